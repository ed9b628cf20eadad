"""Reboot a hung guest with the magic SysRq key "b", sent as key presses from the host.

It reboots at once, without syncing or unmounting (like a reset button, but through the
guest's own kernel), so use it when the guest no longer answers a normal shutdown. It
only works when the guest kernel allows it: kernel.sysrq must include 128 (reboot),
e.g. 1, or Debian's default 438.
"""
from hostmedic.remediations import apply_step, pick, step
from hostmedic.remediations.actions import DomainCall

ID = "domain-sysrq-reboot"
TITLE = "Reboot a hung guest with SysRq b, sent from the host"
SCOPE = "host"
RISK = "disruptive"
REVERSIBLE = False
NEEDS = ("domain",)
TAKES = ()
EFFECT = "at once: the guest reboots without a clean shutdown (if its kernel.sysrq allows it)"
# linux/input-event-codes.h, the key set `virsh send-key` names KEY_*
KEY_LEFTALT, KEY_SYSRQ, KEY_B = 56, 99, 48
VIRSH = ["KEY_LEFTALT", "KEY_SYSRQ", "KEY_B"]


def plan(values):
    domain = pick(values, "domain") or pick(values, "name")
    if not domain:
        return None
    return [step(f"If {domain} no longer answers a normal shutdown, reboot it through its kernel "
                 "(works when the guest's kernel.sysrq allows reboot):",
                 ["virsh", "send-key", domain, *VIRSH]),
            apply_step(ID, domain=domain, allow_disruptive=True)]


def preconditions(host, target):
    import libvirt
    state, _ = host.domain(target.domain).state()
    if state != libvirt.VIR_DOMAIN_RUNNING:
        return [f"{target.domain} is not running (state {state}): key presses would go nowhere"]
    return []


def _send(dom):
    import libvirt
    dom.sendKey(libvirt.VIR_KEYCODE_SET_LINUX, 0, [KEY_LEFTALT, KEY_SYSRQ, KEY_B], 3, 0)


def changes(host, target):
    # An action, not a state: every apply sends the keys again.
    return [DomainCall(target.domain, f"Send Alt+SysRq+B to {target.domain} (immediate reboot)",
                       f"virDomainSendKey({target.domain}, VIR_KEYCODE_SET_LINUX, "
                       f"[{KEY_LEFTALT}, {KEY_SYSRQ}, {KEY_B}])",
                       ["virsh", "send-key", target.domain, *VIRSH], _send, risk="disruptive")]


def verify(host, target, done):
    import libvirt
    state, reason = host.domain(target.domain).state()
    if state != libvirt.VIR_DOMAIN_RUNNING:
        return [f"{target.domain} is not running after the keys (state {state}, reason {reason})"]
    return []
