"""Stop passing guest discards down to thin storage for one disk."""
from hostmedic.remediations import pick, step

ID = "libvirt-disk-discard-ignore"
TITLE = "Set discard='ignore' on the domain's disk (persistent definition)"
SCOPE = "host"
RISK = "safe"
REVERSIBLE = True


def plan(values):
    domain = pick(values, "domain", "DOMAIN")
    disk = pick(values, "target") or pick(values, "disk", "vda")
    return [step(f"On the host, back up the persistent definition of {domain}:",
                 ["virsh", "dumpxml", "--inactive", domain]),
            step(f"Edit it and set discard='ignore' on the <driver> of disk {disk} "
                 "(takes effect at the domain's next boot, not on the running guest):",
                 ["virsh", "edit", domain]),
            step("Undo: restore the saved XML with `virsh define FILE`.")]
