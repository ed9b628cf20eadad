"""Bound how long one service may take to stop."""
from hostmedic.remediations import pick, step

ID = "unit-stop-timeout"
TITLE = "Find why the unit hangs in stop, and give it a shorter TimeoutStopSec"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = True


def plan(values):
    unit = pick(values, "unit")
    if not unit or unit.endswith(".mount"):
        return None  # mount units are bounded through fstab (mount-timeout)
    return [step(f"See what {unit} runs to stop, and its current timeout:",
                 ["systemctl", "show", unit, "--property=ExecStop,TimeoutStopUSec,KillMode"]),
            step(f"Add a drop-in with a shorter timeout, e.g. [Service] TimeoutStopSec=30s "
                 f"(mount units: use x-systemd.mount-timeout in fstab instead):",
                 ["systemctl", "edit", unit]),
            step("Undo with:", ["systemctl", "revert", unit])]
