"""Bound how long one service may take to stop (the unit that held the shutdown up)."""
from hostmedic.remediations import apply_step, dropin, pick, step
from hostmedic.remediations.target import seconds, time_span, unit_name

ID = "unit-stop-timeout"
TITLE = "Find why the unit hangs in stop, and give it a shorter TimeoutStopSec"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = True
NEEDS = ("unit",)
TAKES = ("stop_timeout",)
EFFECT = "from the next stop of the unit (systemd reloaded; the unit is not restarted)"
WHAT = "stop-timeout"


def plan(values):
    unit = pick(values, "unit")
    if not unit or unit.endswith(".mount"):
        return None  # mount units are bounded through fstab (mount-timeout)
    return [step(f"See what {unit} runs to stop, and its current timeout:",
                 ["systemctl", "show", unit, "--property=ExecStop,TimeoutStopUSec,KillMode"]),
            step("Add a drop-in with a shorter timeout, e.g. [Service] TimeoutStopSec=30s "
                 "(mount units: use x-systemd.mount-timeout in fstab instead):",
                 ["systemctl", "edit", unit]),
            step("Undo with:", ["systemctl", "revert", unit]),
            apply_step(ID, unit=unit, stop_timeout="30s")]


def _unit(target):
    return unit_name(target.unit)


def preconditions(host, target):
    unit = _unit(target)
    time_span(target.stop_timeout)
    if not unit.endswith(".service"):
        return [f"{unit} is not a service: TimeoutStopSec= in [Service] only applies to services "
                "(for a mount, use the mount-timeout fix)"]
    problems = [] if dropin.exists(host, unit) else [f"no unit file for {unit} on this system"]
    if not host.has("systemd-analyze"):
        problems.append("systemd-analyze is missing (package systemd): cannot read the unit back")
    return problems


def _missing(host, unit, wanted):
    found, error = dropin.settings(host, unit)
    if error:
        return [error]
    value, where = dropin.last(found, "Service", "TimeoutStopSec")
    if value is not None and _same(value, wanted):
        return []
    return [f"TimeoutStopSec is {value or 'the default'}" + (f" (set last by {where})" if where else "")
            + f", not {wanted}"]


def _same(value, wanted):
    try:
        return seconds(value) == seconds(wanted)
    except ValueError:
        return value == wanted


def changes(host, target):
    unit, wanted = _unit(target), time_span(target.stop_timeout)
    if not _missing(host, unit, wanted):
        return []
    return dropin.write(host, ID, unit, WHAT, "Service", [f"TimeoutStopSec={wanted}"],
                        f"stop (SIGTERM, then SIGKILL) after {wanted} instead of waiting longer.")


def verify(host, target, done):
    unit = _unit(target)
    return _missing(host, unit, time_span(target.stop_timeout)) + dropin.live_problems(host, unit, WHAT)
