"""The libvirt-side boot rules on the lab host's sosreport (tests/data/libvirt/sos-kvmhost):
guest-agent-unavailable from the domains' agent channels and libvirtd's log, and
acpi-shutdown-ignored from libvirt-guests' journal lines joined with the domain's qemu log."""
from __future__ import annotations

import shutil
from pathlib import Path

from hostmedic.engine.analysis import analyse, collect
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import SosreportSource

KVMHOST = Path(__file__).resolve().parents[1] / "data" / "libvirt" / "sos-kvmhost"
PACK = load_pack()


def findings(path: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    stack = list(analyse(collect(SosreportSource(str(path)), PACK), PACK).findings)
    while stack:
        f = stack.pop()
        out.setdefault(f.rule, []).append(f)
        stack += f.explains
    return out


def test_disconnected_agent_channel_and_libvirtd_error():
    [agent] = findings(KVMHOST)["guest-agent-unavailable"]
    assert agent.group == {"d.name": "hm-ro"}  # running, channel state='disconnected'
    assert agent.severity == "warning"
    texts = [e.fields.get("line") or e.fields.get("text") for e in agent.evidence]
    assert "Guest agent is not responding: QEMU guest agent is not connected" in texts
    assert "virsh qemu-agent-command hm-ro" in agent.steps[0]["command"]
    # hm-off was destroyed, but nothing asked it to shut down first: not an ignored ACPI request
    assert "acpi-shutdown-ignored" not in findings(KVMHOST)


def test_libvirt_guests_waited_then_the_domain_was_destroyed(tmp_path: Path):
    host = tmp_path / "sos-kvmhost"
    shutil.copytree(KVMHOST, host)
    (host / "sos_commands/date").mkdir()
    (host / "sos_commands/date/date").write_text("Thu Nov 21 10:30:00 UTC 2024\n")
    (host / "sos_commands/logs").mkdir()
    # libvirt-guests.sh's own wording (LAB_NOTES), before hm-off.log's "reason=destroyed" at 16:46:10
    (host / "sos_commands/logs/journalctl_--no-pager").write_text(
        "-- Logs begin at Wed 2024-11-20 16:30:00 UTC, end at Wed 2024-11-20 16:47:00 UTC. --\n"
        "Nov 20 16:40:15 lab1 systemd[1]: Stopping libvirt-guests.service - Suspend/Resume Running libvirt Guests...\n"
        "Nov 20 16:40:20 lab1 libvirt-guests.sh[1402]: Waiting for guest hm-off to shut down, 300 seconds left\n"
        "Nov 20 16:45:15 lab1 libvirt-guests.sh[1402]: Waiting for guest hm-off to shut down, 5 seconds left\n"
        "Nov 20 16:45:20 lab1 libvirt-guests.sh[1402]: Shutdown of guest hm-off failed to complete in time.\n")
    [acpi] = findings(host)["acpi-shutdown-ignored"]
    assert acpi.group == {"domain": "hm-off"} and acpi.severity == "error"
    assert {m.name for m in acpi.matches} == {
        "libvirt-guests gave up waiting for the guest to shut down",
        "a shutdown was requested and the domain was then destroyed, with no completed shutdown in between"}
    assert "shutting down, reason=destroyed" in acpi.explanation
    assert "domain hm-off: shutoff" in acpi.explanation
