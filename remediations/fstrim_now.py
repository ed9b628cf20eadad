"""Discard unused blocks now, so thin storage gets its space back before a reboot."""
from hostmedic.remediations import apply_step, step
from hostmedic.remediations.actions import Run
from hostmedic.remediations.target import mount_path

ID = "fstrim-now"
TITLE = "Trim every mounted file system that supports discard"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = False  # nothing to undo: trimming frees blocks the file system does not use
NEEDS = ()
TAKES = ("mount",)
EFFECT = "at once; run it before a planned reboot (it may take minutes on large file systems)"
SOME_TRIMMED = 64  # fstrim(8): "some file systems successfully trimmed, some failed"


def plan(values):
    return [step("In the guest, send discards for all free blocks (run before a planned reboot):",
                 ["fstrim", "--all", "--verbose"]),
            apply_step(ID)]


def preconditions(host, target):
    if host.offline:
        return ["fstrim acts on the file systems mounted on the running system, not on a --root tree"]
    if not host.has("fstrim"):
        return ["fstrim is missing (package util-linux)"]
    return []


def changes(host, target):
    # An action, not a state: trimming again only sends discards for blocks still free.
    if target.mount:
        argv = ["fstrim", "--verbose", mount_path(target.mount)]
        say = f"Trim the file system mounted on {target.mount}"
    else:
        argv = ["fstrim", "--all", "--verbose"]
        say = "Trim every mounted file system that supports discard"
    return [Run(say, argv, ok=(0, SOME_TRIMMED))]


def verify(host, target, done):
    run = next((s for s in done if isinstance(s, Run)), None)
    if run is None or run.rc not in (0, SOME_TRIMMED):
        return ["fstrim did not run to the end"]
    if "trimmed" not in run.output:
        return [f"fstrim trimmed nothing: {run.output or 'no output'}"]
    return []
