"""Trim weekly, so free space goes back to thin storage before it runs out."""
from hostmedic.remediations import step

ID = "enable-fstrim-timer"
TITLE = "Enable the weekly fstrim.timer in the guest"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = True


def plan(values):
    return [step("In the guest, enable and start the timer:",
                 ["systemctl", "enable", "--now", "fstrim.timer"]),
            step("Undo with:", ["systemctl", "disable", "--now", "fstrim.timer"])]
