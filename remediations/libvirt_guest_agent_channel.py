"""Give a domain the virtio channel the QEMU guest agent talks through.

With it, libvirt can shut the guest down, freeze its file systems for snapshots and ask
for its addresses through qemu-guest-agent instead of ACPI alone. The guest needs the
qemu-guest-agent package installed and running too.
"""
from hostmedic.remediations import apply_step, domainxml, pick, step
from hostmedic.remediations.actions import DefineDomain

ID = "libvirt-guest-agent-channel"
TITLE = "Add the qemu-guest-agent channel to the domain (persistent definition)"
SCOPE = "host"
RISK = "safe"
REVERSIBLE = True
NEEDS = ("domain",)
TAKES = ()
EFFECT = domainxml.EFFECT + "; install and start qemu-guest-agent in the guest too"


def plan(values):
    domain = pick(values, "name") or pick(values, "domain")
    if not domain or pick(values, "agent_channel") is True:
        return None  # the channel is there: the agent inside the guest is what is missing
    return [step(f"Add <channel type='unix'><target type='virtio' name='{domainxml.AGENT_CHANNEL}'/>"
                 f"</channel> to the <devices> of {domain} (takes effect at the next start from shut off):",
                 ["virsh", "edit", domain]),
            step("In the guest, install and start the agent (Debian/Ubuntu: apt install "
                 "qemu-guest-agent; RHEL: dnf install qemu-guest-agent), then check from the host:",
                 ["virsh", "qemu-agent-command", domain, '{"execute":"guest-ping"}']),
            apply_step(ID, domain=domain)]


def preconditions(host, target):
    dom = host.domain(target.domain)
    if not dom.isPersistent():
        return [f"{target.domain} is transient: it has no persistent definition to change"]
    return []


def changes(host, target):
    old = domainxml.inactive_xml(host.domain(target.domain))
    root = domainxml.parse(old)
    if domainxml.has_agent_channel(root):
        return []
    shown_old = domainxml.serialize(root)
    devices = root.find("devices")
    channel = devices.makeelement("channel", {"type": "unix"})
    channel.append(channel.makeelement("target", {"type": "virtio", "name": domainxml.AGENT_CHANNEL}))
    if len(devices):  # indent like the other devices
        channel.tail = devices[-1].tail
        devices[-1].tail = devices.text
    devices.append(channel)
    return [DefineDomain(host, target.domain, old, domainxml.serialize(root),
                         f"Add the guest agent channel to {target.domain} (persistent definition)",
                         shown_old)]


def verify(host, target, done):
    if not domainxml.has_agent_channel(domainxml.parse(domainxml.inactive_xml(host.domain(target.domain)))):
        return [f"{target.domain} has no {domainxml.AGENT_CHANNEL} channel"]
    return []
