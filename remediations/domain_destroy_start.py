"""The last resort for a hung domain: power it off hard (virsh destroy) and start it again.

Destroying is pulling the power cord: whatever the guest had not written is lost and its
file systems are checked at the next boot. Try domain-sysrq-reboot first. A transient
domain is refused: destroying it would remove it for good.
"""
from hostmedic.remediations import apply_step, pick, step
from hostmedic.remediations.actions import DomainCall

ID = "domain-destroy-start"
TITLE = "Power the domain off hard and start it again (last resort)"
SCOPE = "host"
RISK = "destructive"
REVERSIBLE = False
NEEDS = ("domain",)
TAKES = ()
EFFECT = "at once: the guest loses what it had not written, and boots again"


def plan(values):
    domain = pick(values, "domain") or pick(values, "name")
    if not domain:
        return None
    return [step(f"Last resort, when {domain} answers neither a shutdown nor SysRq: power it off hard "
                 "(unwritten data is lost) and start it:", ["virsh", "destroy", domain]),
            step("then start it again:", ["virsh", "start", domain]),
            apply_step(ID, domain=domain, allow_disruptive=True)]


def preconditions(host, target):
    dom = host.domain(target.domain)
    if not dom.isPersistent():
        return [f"{target.domain} is transient: destroying it would remove it, and it could not be started again"]
    return []


def changes(host, target):
    import libvirt
    dom = host.domain(target.domain)
    state, _ = dom.state()
    steps = []
    if state not in (libvirt.VIR_DOMAIN_SHUTOFF,):
        steps.append(DomainCall(target.domain, f"Power {target.domain} off hard",
                                f"virDomainDestroy({target.domain})", ["virsh", "destroy", target.domain],
                                lambda d: d.destroy(), risk="destructive"))
    steps.append(DomainCall(target.domain, f"Start {target.domain}", f"virDomainCreate({target.domain})",
                            ["virsh", "start", target.domain], lambda d: d.create()))
    return steps


def verify(host, target, done):
    import libvirt
    state, reason = host.domain(target.domain).state()
    if state != libvirt.VIR_DOMAIN_RUNNING:
        return [f"{target.domain} is not running after the start (state {state}, reason {reason})"]
    return []
