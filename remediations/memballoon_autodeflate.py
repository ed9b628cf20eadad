"""Let the guest take memory back from the balloon when it is about to run out."""
from hostmedic.remediations import pick, step

ID = "memballoon-autodeflate"
TITLE = "Give the domain's memballoon autodeflate='on' and return its memory"
SCOPE = "host"
RISK = "safe"
REVERSIBLE = True


def plan(values):
    domain = pick(values, "domain", "DOMAIN")
    max_kib = pick(values, "max_kib")
    steps = [step(f"On the host, back up the definition of {domain}:",
                  ["virsh", "dumpxml", "--inactive", domain])]
    if max_kib:
        steps.append(step("Deflate the balloon now, giving the guest its full memory back:",
                          ["virsh", "setmem", domain, f"{max_kib}KiB", "--live", "--config"]))
    steps += [step("Set <memballoon model='virtio' autodeflate='on'> in the definition "
                   "(takes effect at the next boot):", ["virsh", "edit", domain]),
              step("Undo: restore the saved XML with `virsh define FILE`.")]
    return steps
