"""Host fixes against libvirt's test driver: the lab host's domain definition (written by
libvirt 9.0) defined with the problem, fixed through the same connection, read back."""
from __future__ import annotations

import os

import libvirt
import pytest

from fixkit import audit_lines, define, fix, lab_xml
from hostmedic.remediations import runner
from hostmedic.remediations.host import Host
from hostmedic.remediations.target import Target

INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
UNMAP = lab_xml().replace("error_policy='stop'/>", "error_policy='stop' discard='unmap'/>")
NO_AGENT = lab_xml().replace("""    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/>
    </channel>
""", "")


def inactive(dom) -> str:
    return dom.XMLDesc(INACTIVE)


def undo(outcome, conn, fix_id, **target):
    host = Host(libvirt_uri="test:///default", conn=conn)
    assert runner.rollback(runner.load(fix_id), host, Target(**target), outcome.steps, runner.Quiet()) == []


def apply_twice_and_undo(conn, tmp_path, dom, fix_id, **target):
    before = inactive(dom)
    first = fix(fix_id, conn=conn, state=tmp_path, domain=dom.name(), **target)
    assert (first.result, first.code) == ("applied", runner.APPLIED), first.message
    after = inactive(dom)
    assert after != before
    second = fix(fix_id, conn=conn, state=tmp_path, domain=dom.name(), **target)
    assert (second.result, second.code) == ("unchanged", runner.APPLIED)
    assert inactive(dom) == after
    saved = os.path.join(first.backup, f"domain-{dom.name()}.xml")
    assert open(saved).read() == before and os.stat(saved).st_mode & 0o777 == 0o600
    undo(first, conn, fix_id, domain=dom.name(), **target)
    assert inactive(dom) == before
    assert [(a["result"], a["libvirt_uri"]) for a in audit_lines(tmp_path)] == \
        [("applied", "test:///default"), ("unchanged", "test:///default")]
    return after


def test_disk_discard_ignore_on_the_persistent_definition(conn, tmp_path):
    dom = define(conn, UNMAP, start=True)
    after = apply_twice_and_undo(conn, tmp_path, dom, "libvirt-disk-discard-ignore", disks=["vda"])
    assert "discard='ignore'" in after and "discard='unmap'" not in after
    assert "discard='unmap'" in dom.XMLDesc(0)  # the running domain keeps it until its next start


def test_disk_discard_without_disk_changes_every_unmap_disk(conn, tmp_path):
    dom = define(conn, UNMAP)
    out = fix("libvirt-disk-discard-ignore", conn=conn, state=tmp_path, domain="hm-full")
    assert out.result == "applied" and "discard='ignore'" in inactive(dom)
    assert "Set discard='ignore' on disk vda of hm-full" in out.steps[0].say


def test_memballoon_autodeflate(conn, tmp_path):
    dom = define(conn, lab_xml(), start=True)
    after = apply_twice_and_undo(conn, tmp_path, dom, "memballoon-autodeflate")
    assert "<memballoon model='virtio' autodeflate='on'>" in after


def test_guest_agent_channel(conn, tmp_path):
    dom = define(conn, NO_AGENT)
    after = apply_twice_and_undo(conn, tmp_path, dom, "libvirt-guest-agent-channel")
    assert "name='org.qemu.guest_agent.0'" in after


@pytest.mark.parametrize("fix_id,xml,target,why", [
    ("libvirt-disk-discard-ignore", UNMAP, {"disks": ["vdz"]}, "has no disk vdz (its disks: vda)"),
    ("memballoon-autodeflate", lab_xml().replace("<memballoon model='virtio'>", "<memballoon model='none'>")
     .replace("<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>\n    </memballoon>",
              "</memballoon>"), {}, "has no virtio balloon (model none)"),
])
def test_refusals(conn, tmp_path, fix_id, xml, target, why):
    dom = define(conn, xml)
    before = inactive(dom)
    out = fix(fix_id, conn=conn, state=tmp_path, domain="hm-full", **target)
    assert out.code == runner.REFUSED and why in out.message
    assert inactive(dom) == before


def test_transient_domain_is_refused(conn, tmp_path):
    conn.createXML(UNMAP, 0)
    out = fix("libvirt-disk-discard-ignore", conn=conn, state=tmp_path, domain="hm-full")
    assert out.code == runner.REFUSED and "is transient" in out.message
    out = fix("domain-destroy-start", conn=conn, state=tmp_path, domain="hm-full", allow_disruptive=True)
    assert out.code == runner.REFUSED and "is transient" in out.message


def test_unknown_domain_cannot_run(conn, tmp_path):
    out = fix("memballoon-autodeflate", conn=conn, state=tmp_path, domain="nosuch")
    assert out.code == runner.CANNOT_RUN and "no domain 'nosuch'" in out.message


def paused_on_full_disk(conn, tmp_path):
    image = tmp_path / "images" / "hm-full.qcow2"
    image.parent.mkdir()
    image.write_bytes(b"")
    dom = define(conn, lab_xml().replace("/srv/hm-tiny/hm-full.qcow2", str(image)), start=True)
    dom.suspend()
    return dom


def test_resume_after_space(conn, tmp_path):
    dom = paused_on_full_disk(conn, tmp_path)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    out = fix("libvirt-resume-after-space", conn=conn, state=tmp_path, domain="hm-full", min_free="1M")
    assert out.result == "applied", out.message
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    again = fix("libvirt-resume-after-space", conn=conn, state=tmp_path, domain="hm-full")
    assert again.result == "unchanged"


def test_resume_refused_without_room(conn, tmp_path):
    dom = paused_on_full_disk(conn, tmp_path)
    out = fix("libvirt-resume-after-space", conn=conn, state=tmp_path, domain="hm-full", min_free="1000000T")
    assert out.code == runner.REFUSED and "less than 1000000T: free space first" in out.message
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED


def test_resume_refused_when_shut_off(conn, tmp_path):
    define(conn, lab_xml())
    out = fix("libvirt-resume-after-space", conn=conn, state=tmp_path, domain="hm-full")
    assert out.code == runner.REFUSED and "is not paused" in out.message


def test_sysrq_reboot(conn, tmp_path):
    dom = define(conn, lab_xml(), start=True)
    refused = fix("domain-sysrq-reboot", conn=conn, state=tmp_path, domain="hm-full")
    assert refused.code == runner.REFUSED and "--allow-disruptive" in refused.message
    out = fix("domain-sysrq-reboot", conn=conn, state=tmp_path, domain="hm-full", allow_disruptive=True)
    assert out.result == "applied" and "virDomainSendKey(hm-full, VIR_KEYCODE_SET_LINUX, [56, 99, 48])" \
        in out.steps[0].lines()[0]
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    dom.destroy()
    out = fix("domain-sysrq-reboot", conn=conn, state=tmp_path, domain="hm-full", allow_disruptive=True)
    assert out.code == runner.REFUSED and "is not running" in out.message


def test_destroy_and_start(conn, tmp_path):
    dom = define(conn, lab_xml(), start=True)
    first_id = dom.ID()
    refused = fix("domain-destroy-start", conn=conn, state=tmp_path, domain="hm-full")
    assert refused.code == runner.REFUSED and "destructive: add --allow-disruptive" in refused.message
    out = fix("domain-destroy-start", conn=conn, state=tmp_path, domain="hm-full", allow_disruptive=True)
    assert out.result == "applied", out.message
    assert [s.call for s in out.steps] == ["virDomainDestroy(hm-full)", "virDomainCreate(hm-full)"]
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert conn.lookupByName("hm-full").ID() != first_id  # a new QEMU, not the old one
    assert audit_lines(tmp_path)[-1]["risk"] == "destructive"
