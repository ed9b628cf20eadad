"""Trim weekly, so free space goes back to thin storage before it runs out."""
from hostmedic.remediations import apply_step, dropin, step
from hostmedic.remediations.actions import Note, Run

ID = "enable-fstrim-timer"
TITLE = "Enable the weekly fstrim.timer in the guest"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = True
NEEDS = ()
TAKES = ()
EFFECT = "enabled for every boot, and started now on a running systemd"
UNIT = "fstrim.timer"


def plan(values):
    return [step("In the guest, enable and start the timer:",
                 ["systemctl", "enable", "--now", UNIT]),
            step("Undo with:", ["systemctl", "disable", "--now", UNIT]),
            apply_step(ID)]


def preconditions(host, target):
    if not host.offline and not host.systemd_running():
        return ["systemd is not running here (not PID 1): give the system's tree with --root"]
    if not dropin.exists(host, UNIT):
        return [f"no {UNIT} on this system (it comes with util-linux)"]
    return []


def _state(host, verb):
    return host.run(host.systemctl(verb, UNIT)).out.strip()


def changes(host, target):
    enabled = _state(host, "is-enabled") == "enabled"
    if host.offline:
        if enabled:
            return []
        return [Run(f"Enable {UNIT} in the tree", host.systemctl("enable", UNIT),
                    undo=host.systemctl("disable", UNIT)),
                Note(f"not started now (--root acts on a tree): {UNIT} starts at that system's next boot")]
    active = _state(host, "is-active") == "active"
    if enabled and active:
        return []
    if enabled:
        return [Run(f"Start {UNIT}", host.systemctl("start", UNIT), undo=host.systemctl("stop", UNIT))]
    return [Run(f"Enable and start {UNIT}", host.systemctl("enable", "--now", UNIT),
                undo=host.systemctl("disable", "--now", UNIT))]


def verify(host, target, done):
    problems = []
    state = _state(host, "is-enabled")
    if state != "enabled":
        problems.append(f"{UNIT} is {state or 'unknown'}, not enabled")
    if not host.offline and _state(host, "is-active") != "active":
        problems.append(f"{UNIT} is not active")
    return problems
