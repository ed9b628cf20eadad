"""Stop passing guest discards down to thin storage for one disk (persistent definition)."""
from hostmedic.remediations import apply_step, domainxml, pick, step
from hostmedic.remediations.actions import DefineDomain

ID = "libvirt-disk-discard-ignore"
TITLE = "Set discard='ignore' on the domain's disk (persistent definition)"
SCOPE = "host"
RISK = "safe"
REVERSIBLE = True
NEEDS = ("domain",)
TAKES = ("disk",)
EFFECT = domainxml.EFFECT


def plan(values):
    domain = pick(values, "domain", "DOMAIN")
    disk = pick(values, "target") or pick(values, "disk", "vda")
    return [step(f"On the host, back up the persistent definition of {domain}:",
                 ["virsh", "dumpxml", "--inactive", "--security-info", domain]),
            step(f"Edit it and set discard='ignore' on the <driver> of disk {disk} "
                 "(takes effect at the domain's next start from shut off, not on the running guest):",
                 ["virsh", "edit", domain]),
            step("Undo: restore the saved XML with `virsh define FILE`."),
            apply_step(ID, domain=domain, disk=disk)]


def _disks(root, target):
    """The disks to change: those named, or every one that passes discards down."""
    disks = domainxml.disks(root)
    if target.disks:
        return [d for d in disks if domainxml.disk_target(d) in target.disks]
    return [d for d in disks if d.find("driver") is not None and d.find("driver").get("discard") == "unmap"]


def preconditions(host, target):
    dom = host.domain(target.domain)
    if not dom.isPersistent():
        return [f"{target.domain} is transient: it has no persistent definition to change"]
    root = domainxml.parse(domainxml.inactive_xml(dom))
    known = [domainxml.disk_target(d) for d in domainxml.disks(root)]
    unknown = [d for d in target.disks if d not in known]
    if unknown:
        return [f"{target.domain} has no disk {', '.join(unknown)} (its disks: {', '.join(known) or 'none'})"]
    return []


def changes(host, target):
    dom = host.domain(target.domain)
    old = domainxml.inactive_xml(dom)
    root = domainxml.parse(old)
    shown_old = domainxml.serialize(root)
    names = []
    for disk in _disks(root, target):
        driver = disk.find("driver")
        if driver is None:
            driver = disk.makeelement("driver", {})
            disk.insert(0, driver)
        if driver.get("discard") != "ignore":
            driver.set("discard", "ignore")
            names.append(domainxml.disk_target(disk))
    if not names:
        return []
    return [DefineDomain(host, target.domain, old, domainxml.serialize(root),
                         f"Set discard='ignore' on disk {', '.join(names)} of {target.domain} "
                         "(persistent definition)", shown_old)]


def verify(host, target, done):
    root = domainxml.parse(domainxml.inactive_xml(host.domain(target.domain)))
    problems = []
    for disk in domainxml.disks(root):
        name = domainxml.disk_target(disk)
        driver = disk.find("driver")
        discard = driver.get("discard") if driver is not None else None
        if (name in target.disks or (not target.disks and discard == "unmap")) and discard != "ignore":
            problems.append(f"disk {name} of {target.domain} still has discard={discard or 'unset'}")
    return problems
