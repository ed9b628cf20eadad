"""fs-readonly-after-discard on a KVM host whose own disk has the guest's disk name (vda):
what the host says of its own vda must not be told as the guest's (seen in the lab)."""
from __future__ import annotations

from hostmedic.engine.analysis import analyse
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.ruletest import example_facts

PACK = load_pack()
RULE = PACK.get("fs-readonly-after-discard")


def finding(name: str):
    ex = next(e for e in RULE.data["examples"]["positive"] if e["name"] == name)
    findings = analyse(example_facts(RULE, ex), PACK).findings
    return next(f for f in findings if f.rule == RULE.id)


def test_the_hosts_own_vda_is_not_described_as_the_guests():
    f = finding("host side, and the host's own disk is vda too (a KVM host that is itself a cloud "
                "VM; lab host's lsblk -D)")
    assert "discard='unmap'" in f.explanation
    assert "DISC-MAX" not in f.explanation
    assert all(e.kind != "block_discard" for e in f.evidence)


def test_the_guests_own_discard_capability_is_still_told():
    f = finding("Debian 12 guest, ext4 on vda, host storage full under error_policy='report' "
                "(verbatim lab console)")
    assert "In the guest, vda accepts discards (DISC-MAX 1G)" in f.explanation


def test_the_guests_disabled_trim_timer_is_still_told():
    f = finding("write errors and read-only in a guest whose fstrim.timer is disabled")
    assert "fstrim.timer is disabled" in f.explanation
