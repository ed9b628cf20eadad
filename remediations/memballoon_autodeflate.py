"""Let the guest take memory back from the balloon when it is about to run out.

libvirt's <memballoon autodeflate='on'> is QEMU's virtio-balloon deflate-on-oom=on (there
is no separate deflate-on-oom attribute in libvirt); it cannot be changed on a running
domain, so the persistent definition is changed and the next start gets it.
"""
from hostmedic.remediations import apply_step, domainxml, pick, step
from hostmedic.remediations.actions import DefineDomain

ID = "memballoon-autodeflate"
TITLE = "Set autodeflate='on' on the domain's memballoon (persistent definition)"
SCOPE = "host"
RISK = "safe"
REVERSIBLE = True
NEEDS = ("domain",)
TAKES = ()
EFFECT = domainxml.EFFECT


def plan(values):
    domain = pick(values, "domain", "DOMAIN")
    max_kib = pick(values, "max_kib")
    steps = [step(f"On the host, back up the definition of {domain}:",
                  ["virsh", "dumpxml", "--inactive", "--security-info", domain])]
    if max_kib:
        steps.append(step("Deflate the balloon now, giving the guest its full memory back:",
                          ["virsh", "setmem", domain, f"{max_kib}KiB", "--live", "--config"]))
    steps += [step("Set <memballoon model='virtio' autodeflate='on'> in the definition "
                   "(takes effect at the next start from shut off):", ["virsh", "edit", domain]),
              step("Undo: restore the saved XML with `virsh define FILE`."),
              apply_step(ID, domain=domain)]
    return steps


def _balloon(root):
    return root.find("./devices/memballoon")


def preconditions(host, target):
    dom = host.domain(target.domain)
    if not dom.isPersistent():
        return [f"{target.domain} is transient: it has no persistent definition to change"]
    balloon = _balloon(domainxml.parse(domainxml.inactive_xml(dom)))
    if balloon is None or balloon.get("model") not in ("virtio", "virtio-transitional",
                                                       "virtio-non-transitional"):
        model = balloon.get("model") if balloon is not None else "none"
        return [f"{target.domain} has no virtio balloon (model {model}): nothing to deflate"]
    return []


def changes(host, target):
    old = domainxml.inactive_xml(host.domain(target.domain))
    root = domainxml.parse(old)
    shown_old = domainxml.serialize(root)
    balloon = _balloon(root)
    if balloon.get("autodeflate") == "on":
        return []
    balloon.set("autodeflate", "on")
    return [DefineDomain(host, target.domain, old, domainxml.serialize(root),
                         f"Set autodeflate='on' on the memballoon of {target.domain} (persistent definition)",
                         shown_old)]


def verify(host, target, done):
    balloon = _balloon(domainxml.parse(domainxml.inactive_xml(host.domain(target.domain))))
    if balloon is None or balloon.get("autodeflate") != "on":
        return [f"the memballoon of {target.domain} does not have autodeflate='on'"]
    return []
