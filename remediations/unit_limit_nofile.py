"""Raise a service's open-file limit (LimitNOFILE=), which systemd sets, not limits.conf.

The soft limit stays what processes get by default (1024 unless set); a program that does
not raise its own soft limit needs it set here. The new limit applies to processes started
after it, so the service must be restarted (--restart, a disruptive step).
"""
from hostmedic.remediations import apply_step, dropin, pick, step
from hostmedic.remediations.actions import Note, Run
from hostmedic.remediations.target import nofile, unit_name

ID = "unit-limit-nofile"
TITLE = "Raise the service's LimitNOFILE with a drop-in"
SCOPE = "guest"
RISK = "safe"  # disruptive with --restart
REVERSIBLE = True
NEEDS = ("unit",)
TAKES = ("nofile", "restart")
EFFECT = "from the service's next (re)start; --restart restarts it now (disruptive)"
WHAT = "limit-nofile"


def plan(values):
    unit = pick(values, "unit")
    if not unit:
        return None
    return [step(f"See the limits {unit} runs with (soft and hard):",
                 ["systemctl", "show", unit, "--property=LimitNOFILE,LimitNOFILESoft"]),
            step("Raise them with a drop-in, e.g. [Service] LimitNOFILE=65536:524288, "
                 "then restart the service so that its processes get the new limit:",
                 ["systemctl", "edit", unit]),
            apply_step(ID, unit=unit, nofile="65536:524288")]


def preconditions(host, target):
    unit = unit_name(target.unit)
    nofile(target.nofile)
    if not unit.endswith(".service"):
        return [f"{unit} is not a service: LimitNOFILE= belongs to services"]
    problems = [] if dropin.exists(host, unit) else [f"no unit file for {unit} on this system"]
    if target.restart and not host.systemd_running():
        problems.append("--restart needs a running systemd" + (" (not with --root)" if host.offline else ""))
    if not host.has("systemd-analyze"):
        problems.append("systemd-analyze is missing (package systemd): cannot read the unit back")
    return problems


def _missing(host, unit, wanted):
    found, error = dropin.settings(host, unit)
    if error:
        return [error]
    value, where = dropin.last(found, "Service", "LimitNOFILE")
    if value is not None:
        try:
            if nofile(value) == wanted:
                return []
        except ValueError:
            pass
    return [f"LimitNOFILE is {value or 'the default'}" + (f" (set last by {where})" if where else "")
            + f", not {':'.join(wanted)}"]


def _running_limit(host, unit):
    """(soft, hard) open files of the service's main process now, or None."""
    ran = host.run(["systemctl", "show", "--property=MainPID", "--value", "--", unit])
    pid = ran.out.strip() if ran.ok else ""
    if not pid.isdigit() or pid == "0":
        return None
    try:
        with open(f"/proc/{pid}/limits", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Max open files"):
                    soft, hard = line.split()[3:5]
                    return (soft.replace("unlimited", "infinity"), hard.replace("unlimited", "infinity"))
    except OSError:
        return None
    return None


def changes(host, target):
    unit, wanted = unit_name(target.unit), nofile(target.nofile)
    steps = []
    if _missing(host, unit, wanted):
        steps = dropin.write(host, ID, unit, WHAT, "Service", [f"LimitNOFILE={':'.join(wanted)}"],
                             f"soft {wanted[0]}, hard {wanted[1]} open files.")
    if target.restart:
        if steps or _running_limit(host, unit) != wanted:
            steps.append(Run(f"Restart {unit} so that its processes get the limit",
                             ["systemctl", "restart", unit], risk="disruptive"))
    elif steps:
        steps.append(Note(f"{unit} keeps its old limit until it restarts (add --restart "
                          "--allow-disruptive to restart it now)"))
    return steps


def verify(host, target, done):
    unit, wanted = unit_name(target.unit), nofile(target.nofile)
    problems = _missing(host, unit, wanted) + dropin.live_problems(host, unit, WHAT)
    if target.restart and not problems:
        running = _running_limit(host, unit)
        if running != wanted:
            problems.append(f"{unit}'s main process runs with "
                            f"{':'.join(running) if running else 'no known limit (not running?)'} "
                            f"open files after the restart, not {':'.join(wanted)}")
    return problems
