"""Discard unused blocks now, so thin storage gets its space back before a reboot."""
from hostmedic.remediations import step

ID = "fstrim-now"
TITLE = "Trim every mounted file system that supports discard"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = False  # nothing to undo: trimming frees blocks the file system does not use


def plan(values):
    return [step("In the guest, send discards for all free blocks (run before a planned reboot):",
                 ["fstrim", "--all", "--verbose"])]
