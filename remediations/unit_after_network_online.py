"""Start a service only once the network is up and host names can be resolved.

After=network-online.target nss-lookup.target orders the start; Wants=network-online.target
pulls the network-online target in (it is not started unless something wants it).
nss-lookup.target is a passive target: the resolver service pulls it in, consumers only
order themselves after it (systemd.special(7)).
"""
from hostmedic.remediations import apply_step, dropin, pick, step
from hostmedic.remediations.target import unit_name

ID = "unit-after-network-online"
TITLE = "Order the service after network-online.target and nss-lookup.target"
SCOPE = "guest"
RISK = "safe"
REVERSIBLE = True
NEEDS = ("unit",)
TAKES = ()
EFFECT = "from the unit's next start (systemd reloaded; the unit is not restarted)"
WHAT = "wait-network-online"
AFTER = ["network-online.target", "nss-lookup.target"]
WANTS = ["network-online.target"]


def plan(values):
    unit = pick(values, "unit")
    if not unit:
        return None
    return [step(f"See what {unit} is ordered after and wants now:",
                 ["systemctl", "show", unit, "--property=After,Wants"]),
            step(f"Add a drop-in: [Unit] After={' '.join(AFTER)} and Wants={' '.join(WANTS)} "
                 "(on systemd-networkd hosts systemd-networkd-wait-online.service must be enabled, "
                 "on NetworkManager hosts NetworkManager-wait-online.service):",
                 ["systemctl", "edit", unit]),
            apply_step(ID, unit=unit)]


def preconditions(host, target):
    unit = unit_name(target.unit)
    problems = [] if dropin.exists(host, unit) else [f"no unit file for {unit} on this system"]
    if not host.has("systemd-analyze"):
        problems.append("systemd-analyze is missing (package systemd): cannot read the unit back")
    return problems


def _missing(host, unit):
    found, error = dropin.settings(host, unit)
    if error:
        return [error]
    after, wants = dropin.listed(found, "Unit", "After"), dropin.listed(found, "Unit", "Wants")
    return ([f"not ordered After={name}" for name in AFTER if name not in after]
            + [f"does not want {name}" for name in WANTS if name not in wants])


def changes(host, target):
    unit = unit_name(target.unit)
    if not _missing(host, unit):
        return []
    return dropin.write(host, ID, unit, WHAT, "Unit",
                        [f"After={' '.join(AFTER)}", f"Wants={' '.join(WANTS)}"],
                        "start once the network is online and names resolve.")


def verify(host, target, done):
    unit = unit_name(target.unit)
    return _missing(host, unit) + dropin.live_problems(host, unit, WHAT)
