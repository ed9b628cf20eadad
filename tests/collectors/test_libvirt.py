"""The libvirt collector: live through libvirt's own test driver, and from sosreport trees.

Fixtures (tests/data/libvirt/, see its README):
  sos-kvmhost/   a KVM host's sosreport in sos's layout: hm-full paused on an I/O error,
                 hm-ro running with a read-only guest file system, hm-bal with an inflated
                 balloon and an OOM in the guest, hm-off shut off after a destroy
  testnode.xml   a node for the test driver (test:///ABSOLUTE/PATH/testnode.xml)
  live-root/     the files the live path reads next to the API (qemu and console logs)
"""
from __future__ import annotations

import calendar
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import types

import pytest

from hostmedic.collectors import libvirt as lv
from hostmedic.collectors import run_all
from hostmedic.engine.sources import LocalSource, SosreportSource


def facts(ctx, kind):
    return [f for f in ctx.facts.facts if f.kind == kind]


def one(ctx, kind, **where):
    found = [f for f in facts(ctx, kind) if all(f.fields.get(k) == v for k, v in where.items())]
    assert len(found) == 1, f"{kind} {where}: {len(found)} facts"
    return found[0]


def statuses(ctx):
    return facts(ctx, "collector_status")


@pytest.fixture
def sos_dir(data_dir):
    return os.path.join(data_dir, "libvirt", "sos-kvmhost")


@pytest.fixture
def sos_ctx(make_ctx, sos_dir):
    def make(interesting=None, path=None):
        ctx = make_ctx(SosreportSource(path or sos_dir), interesting=interesting)
        lv.collect(ctx)
        return ctx
    return make


@pytest.fixture
def sos_copy(tmp_path, sos_dir):
    """A writable copy of the sosreport tree (symlinks kept as links)."""
    dst = tmp_path / "sosreport"
    shutil.copytree(sos_dir, dst, symlinks=True)
    return dst


# -- live: libvirt's test driver ------------------------------------------------------------

@pytest.fixture
def libvirt_mod():
    return pytest.importorskip("libvirt")


@pytest.fixture
def live_ctx(make_ctx, data_dir, libvirt_mod):
    root = os.path.join(data_dir, "libvirt", "live-root")

    def make(uri, interesting=None, **options):
        ctx = make_ctx(LocalSource(root=root), interesting=interesting, libvirt_uri=uri, **options)
        lv.collect(ctx)
        return ctx
    return make


@pytest.fixture
def node_uri(data_dir):
    return "test://" + os.path.join(data_dir, "libvirt", "testnode.xml")


def test_live_default_test_driver(live_ctx):
    ctx = live_ctx("test:///default")
    [status] = statuses(ctx)
    assert status.fields["status"] == "ok" and "1 domain" in status.fields["detail"]
    d = one(ctx, "domain", name="test")
    assert d.fields["uuid"] == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert d.fields["state"] == "running"
    assert d.fields["max_kib"] == 8388608 and d.fields["current_kib"] == 2097152
    assert d.fields["balloon_actual_kib"] == 2097152  # memoryStats()['actual']
    assert d.fields["balloon_model"] == "virtio" and d.fields["balloon_autodeflate"] == "unset"
    assert d.fields["agent_channel"] is False and "agent_state" not in d.fields
    assert d.fields["persistent"] is True
    assert d.source.origin == "api" and "test:///default" in d.source.name
    disk = one(ctx, "domain_disk", domain="test")
    assert disk.fields["target"] == "vda" and disk.fields["bus"] == "virtio"
    assert disk.fields["source"] == "/guest/diskimage1"
    assert disk.fields["error"] in ("none", "unspec", "nospace")  # diskErrors(), mapped
    assert disk.fields["text"] == "<source file='/guest/diskimage1'/>"


def test_live_custom_node(live_ctx, node_uri):
    ctx = live_ctx(node_uri)
    [status] = statuses(ctx)
    assert status.fields["status"] == "ok" and "3 domain" in status.fields["detail"]

    web1 = one(ctx, "domain", name="web1")
    assert web1.fields["state"] == "paused"
    # The test driver sets no reason for a <test:runstate>: it cannot express "ioerror".
    assert web1.fields["reason"] == "unknown"
    assert web1.fields["max_kib"] == 262144 and web1.fields["current_kib"] == 131072
    assert web1.fields["balloon_actual_kib"] == 131072
    assert web1.fields["balloon_model"] == "virtio"
    assert web1.fields["balloon_autodeflate"] == "unset"  # no attribute in the XML
    assert "balloon_deflate_on_oom" not in web1.fields  # no such attribute in libvirt's schema
    assert web1.fields["agent_channel"] is True
    assert "agent_state" not in web1.fields  # the test driver drops the target's state
    assert web1.fields["persistent"] is True and web1.fields["autostart"] is False
    assert web1.fields["text"] == ("domain web1: paused (unknown), memory 131072/262144 KiB, "
                                   "balloon actual 131072 KiB, memballoon virtio autodeflate "
                                   "unset, guest agent channel defined")

    vda = one(ctx, "domain_disk", domain="web1", target="vda")
    assert vda.fields["discard"] == "unmap" and vda.fields["error_policy"] == "report"
    assert vda.fields["driver_type"] == "qcow2" and vda.fields["device"] == "disk"
    assert vda.fields["source"] == "/var/lib/libvirt/images/web1.qcow2"
    assert vda.fields["error"] in ("none", "unspec", "nospace")
    assert "live_discard" not in vda.fields
    assert vda.fields["text"] == ("<driver name='qemu' type='qcow2' error_policy='report' "
                                  "discard='unmap'/> <source file='/var/lib/libvirt/images/web1.qcow2'/>")
    assert "VIR_DOMAIN_XML_INACTIVE" in vda.source.name and isinstance(vda.source.line, int)
    cdrom = one(ctx, "domain_disk", domain="web1", target="sda")
    assert cdrom.fields["device"] == "cdrom" and "source" not in cdrom.fields

    db1 = one(ctx, "domain", name="db1")
    assert db1.fields["state"] == "shutoff"
    assert db1.fields["max_kib"] == 512 * 1024  # <memory unit='MiB'>512</memory>
    assert db1.fields["balloon_autodeflate"] == "on"
    assert "balloon_actual_kib" not in db1.fields  # memoryStats only for active domains
    db1_vda = one(ctx, "domain_disk", domain="db1")
    assert db1_vda.fields["source"] == "/dev/vg0/db1" and db1_vda.fields["source_type"] == "block"
    assert db1_vda.fields["discard"] == "ignore" and db1_vda.fields["detect_zeroes"] == "off"
    assert db1_vda.fields["rerror_policy"] == "stop"
    assert "error" not in db1_vda.fields  # diskErrors only for active domains

    scratch = one(ctx, "domain", name="scratch")
    assert scratch.fields["persistent"] is False and "autostart" not in scratch.fields
    assert scratch.fields["balloon_model"] == "none" and "balloon_autodeflate" not in scratch.fields
    assert scratch.fields["text"].endswith("memballoon none, no guest agent channel")
    assert one(ctx, "domain_disk", domain="scratch").fields["source"] == "default-pool/scratch.qcow2"


def test_live_logs(live_ctx, node_uri):
    ctx = live_ctx(node_uri)
    qemu = [f for f in facts(ctx, "log") if f.fields["stream"] == "qemu"]
    assert qemu and all(f.fields["domain"] == "web1" and f.fields["ident"] == "qemu" for f in qemu)
    start = qemu[0]
    assert start.fields["message"].startswith("starting up libvirt version: 9.0.0")
    assert start.fields["t"] == calendar.timegm((2024, 11, 21, 10, 0, 2)) + 0.118
    assert start.source.name == "/var/log/libvirt/qemu/web1.log" and start.source.line == 1
    cmdline = qemu[1]  # one fact for the whole backslash-continued command line
    assert cmdline.source.line == 2 and cmdline.fields["message"].startswith("LC_ALL=C PATH=")
    assert "-name guest=web1,debug-threads=on" in cmdline.fields["message"]
    assert "\\" not in cmdline.fields["message"]

    console = [f for f in facts(ctx, "log") if f.fields["stream"] == "console"]
    ro = [f for f in console if f.fields["message"] == "EXT4-fs (vda): Remounting filesystem read-only"]
    assert len(ro) == 1  # the console log is named twice (serial and console): read once
    assert ro[0].fields["ident"] == "kernel" and ro[0].fields["domain"] == "web1"
    assert ro[0].source.name == "/var/log/libvirt/qemu/web1-serial0.log"
    assert not any("login" in f.fields["message"] for f in console)  # not a kernel line

    kept = live_ctx(node_uri, interesting=lambda m: "login" in m)
    login = [f for f in facts(kept, "log") if "login" in f.fields["message"]]
    assert len(login) == 1 and "ident" not in login[0].fields and "\r" not in login[0].fields["message"]


def test_live_failed_connection_is_one_status(make_ctx, tmp_path, libvirt_mod):
    ctx = make_ctx(LocalSource(root=str(tmp_path)), libvirt_uri="test:///nonexistent/file.xml")
    lv.collect(ctx)
    assert len(ctx.facts.facts) == 1
    [status] = statuses(ctx)
    assert status.fields["collector"] == "libvirt" and status.fields["status"] == "failed"
    assert "test:///nonexistent/file.xml" in status.fields["detail"] and status.fields["hint"]


def test_live_failed_connection_still_reads_the_logs(live_ctx):
    ctx = live_ctx("test:///nonexistent/file.xml")
    [status] = statuses(ctx)
    assert status.fields["status"] == "failed"
    assert status.fields["detail"].endswith("read instead: 2 log file(s) under /var/log/libvirt")
    logs = facts(ctx, "log")
    assert {f.fields["domain"] for f in logs} == {"web1"}  # console log named web1-serial0.log


def test_live_no_daemon_is_absent(live_ctx):
    ctx = live_ctx("qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    [status] = statuses(ctx)
    assert status.fields["status"] == "absent"
    assert "libvirtd is not running" in status.fields["hint"]
    assert "--libvirt-uri" in status.fields["hint"]
    assert not facts(ctx, "domain")


def test_live_unusable_api_reads_the_files_instead(make_ctx, sos_dir, libvirt_mod):
    """No daemon on a host that has definitions and logs: one status, and the files."""
    ctx = make_ctx(LocalSource(root=sos_dir),
                   libvirt_uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    lv.collect(ctx)
    [status] = statuses(ctx)
    assert status.fields["status"] == "absent"
    assert "read instead: 4 domain(s)" in status.fields["detail"]
    full = one(ctx, "domain", name="hm-full")
    assert (full.fields["state"], full.fields["reason"]) == ("paused", "ioerror")
    assert full.source.name == "/run/libvirt/qemu/hm-full.xml"
    assert one(ctx, "domain", name="hm-off").fields["state"] == "shutoff"
    assert facts(ctx, "log")


class _FakeError(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code

    def get_error_code(self):
        return self.code


def _fake_libvirt(open_read_only):
    return types.SimpleNamespace(libvirtError=_FakeError, openReadOnly=open_read_only,
                                 registerErrorHandler=lambda *a: None,
                                 VIR_ERR_AUTH_UNAVAILABLE=94, VIR_ERR_AUTH_FAILED=45,
                                 VIR_DOMAIN_XML_INACTIVE=2)


def test_missing_binding(make_ctx, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "libvirt", None)  # import libvirt -> ImportError
    ctx = make_ctx(LocalSource(root=str(tmp_path)))
    lv.collect(ctx)
    [status] = statuses(ctx)
    assert status.fields["status"] == "missing" and "python3-libvirt" in status.fields["hint"]


def test_denied_connection(make_ctx, tmp_path, monkeypatch):
    def refuse(uri):
        raise _FakeError("authentication unavailable: no polkit agent available to "
                         "authenticate action 'org.libvirt.unix.monitor'", 94)
    monkeypatch.setitem(sys.modules, "libvirt", _fake_libvirt(refuse))
    ctx = make_ctx(LocalSource(root=str(tmp_path)))
    lv.collect(ctx)
    [status] = statuses(ctx)
    assert status.fields["status"] == "denied" and "root" in status.fields["hint"]


def test_hung_daemon_times_out(make_ctx, tmp_path, monkeypatch):
    release = threading.Event()

    def hang(uri):
        release.wait(30)
        raise _FakeError("gave up", 1)
    monkeypatch.setitem(sys.modules, "libvirt", _fake_libvirt(hang))
    ctx = make_ctx(LocalSource(root=str(tmp_path)), timeout=1)
    began = time.monotonic()
    try:
        lv.collect(ctx)
    finally:
        release.set()
    assert time.monotonic() - began < 5
    [status] = statuses(ctx)
    assert status.fields["status"] == "timeout" and "did not answer" in status.fields["detail"]


# -- sosreport ----------------------------------------------------------------------------

def test_sos_status_ok(sos_ctx):
    ctx = sos_ctx()
    [status] = statuses(ctx)
    assert status.fields["status"] == "ok" and "4 domain(s)" in status.fields["detail"]
    assert sorted(f.fields["name"] for f in facts(ctx, "domain")) == \
        ["hm-bal", "hm-full", "hm-off", "hm-ro"]  # not the network "default"


def test_sos_paused_on_io_error(sos_ctx, sos_dir):
    d = one(sos_ctx(), "domain", name="hm-full")
    f = d.fields
    assert (f["state"], f["reason"]) == ("paused", "ioerror")  # from <domstatus>
    assert f["uuid"] == "5b0f1c3e-8a7d-4c52-9e61-2f4d7a9b3c10"
    assert f["balloon_model"] == "virtio" and f["balloon_autodeflate"] == "unset"
    assert f["agent_channel"] is True and f["agent_state"] == "disconnected"
    assert f["persistent"] is True and f["autostart"] is False
    assert "balloon_actual_kib" not in f  # only the live API has it
    assert f["text"] == ("domain hm-full: paused (ioerror), memory 262144/262144 KiB, memballoon "
                         "virtio autodeflate unset, guest agent channel disconnected")
    assert d.source.origin == "file" and d.source.name == "run/libvirt/qemu/hm-full.xml"
    with open(os.path.join(sos_dir, d.source.name)) as fh:
        assert fh.read().splitlines()[d.source.line - 1].strip() == "<domain type='qemu' id='1'>"


def test_sos_inflated_balloon(sos_ctx):
    f = one(sos_ctx(), "domain", name="hm-bal").fields
    # live status: currentMemory 131072 after `virsh setmem`; the definition still says 262144
    assert f["current_kib"] == 131072 and f["max_kib"] == 262144 and f["memory_percent"] == 50
    assert f["agent_channel"] is False
    assert f["text"] == ("domain hm-bal: running (booted), memory 131072/262144 KiB, memballoon "
                         "virtio autodeflate unset, no guest agent channel")


def test_sos_shut_off_domain(sos_ctx):
    f = one(sos_ctx(), "domain", name="hm-off").fields
    assert f["state"] == "shutoff" and "reason" not in f  # no status file, virsh list agrees
    assert f["autostart"] is True  # etc/libvirt/qemu/autostart/hm-off.xml
    assert "agent_state" not in f  # a persistent definition has no channel state


def test_sos_disks(sos_ctx, sos_dir):
    ctx = sos_ctx()
    ro = one(ctx, "domain_disk", domain="hm-ro")
    assert ro.fields["discard"] == "unmap"  # what the next boot gets ...
    assert ro.fields["live_discard"] == "unset"  # ... not what runs now
    assert ro.fields["error_policy"] == "report"
    assert ro.fields["text"] == ("<driver name='qemu' type='qcow2' error_policy='report' "
                                 "discard='unmap'/> <source file='/srv/hm-tiny/hm-ro.qcow2'/>")
    assert ro.source.name == "etc/libvirt/qemu/hm-ro.xml"
    with open(os.path.join(sos_dir, ro.source.name)) as fh:
        assert fh.read().splitlines()[ro.source.line - 1].strip() == "<disk type='file' device='disk'>"
    full = one(ctx, "domain_disk", domain="hm-full")
    assert full.fields["error_policy"] == "stop" and "discard" not in full.fields
    assert "live_discard" not in full.fields
    assert "error" not in full.fields  # sos saves no domblkerror
    off = one(ctx, "domain_disk", domain="hm-off")
    assert (off.fields["discard"], off.fields["detect_zeroes"]) == ("unmap", "unmap")
    assert off.fields["source"] == "/srv/hm-tiny/hm-off.qcow2" and off.fields["target"] == "vda"
    assert off.fields["bus"] == "virtio" and off.fields["driver_type"] == "qcow2"


def test_sos_qemu_logs(sos_ctx):
    logs = [f for f in facts(sos_ctx(), "log") if f.fields["stream"] == "qemu"]
    off = [f for f in logs if f.fields.get("domain") == "hm-off"]
    term = [f for f in off if "terminating on signal 15" in f.fields["message"]]
    assert len(term) == 1
    assert term[0].fields["message"] == \
        "qemu-system-x86_64: terminating on signal 15 from pid 694 (libvirtd)"
    assert term[0].fields["t"] == pytest.approx(calendar.timegm((2024, 11, 20, 16, 46, 10)) + 0.017553)
    assert term[0].source.name == "var/log/libvirt/qemu/hm-off.log"
    down = [f for f in off if f.fields["message"] == "shutting down, reason=destroyed"]
    assert len(down) == 1 and down[0].source.time == down[0].fields["t"]
    cmdline = [f for f in off if f.fields["message"].startswith("LC_ALL=C ")]
    assert len(cmdline) == 1 and "-name guest=hm-off,debug-threads=on" in cmdline[0].fields["message"]
    # a log whose domain is gone (no XML): still read, named after its file
    old = [f for f in logs if f.fields.get("domain") == "old-vm"]
    assert [f.fields["message"] for f in old][-1] == "shutting down, reason=failed"


def test_sos_console_logs(sos_ctx):
    logs = [f for f in facts(sos_ctx(), "log") if f.fields["stream"] == "console"]
    ro = [f for f in logs if f.fields["domain"] == "hm-ro"]
    ext4 = [f for f in ro if f.fields["message"] == "EXT4-fs (vda): Remounting filesystem read-only"]
    assert len(ext4) == 1 and ext4[0].fields["ident"] == "kernel" and ext4[0].fields["boot"] == 0
    assert ext4[0].source.name == "var/log/libvirt/qemu/hm-ro-serial0.log"
    # the guest rebooted once in this console log: the boot before is -1
    restart = [f for f in ro if f.fields["message"] == "reboot: Restarting system"]
    assert len(restart) == 1 and restart[0].fields["boot"] == -1
    assert not any(f.fields["message"].endswith("\r") for f in logs)  # CRLF serial output
    oom = [f for f in logs if f.fields["message"].startswith("Out of memory: Killed process 111 (dd)")]
    assert len(oom) == 1 and oom[0].fields["domain"] == "hm-bal"


def test_sos_libvirtd_log(sos_ctx):
    logs = [f for f in facts(sos_ctx(), "log") if f.fields["stream"] == "libvirtd"]
    agent = [f for f in logs if f.fields.get("function") == "qemuDomainAgentAvailable"]
    assert len(agent) == 1 and "domain" not in agent[0].fields
    assert agent[0].fields["message"] == \
        "Guest agent is not responding: QEMU guest agent is not connected"
    assert agent[0].fields["priority"] == 3 and agent[0].fields["ident"] == "libvirtd"
    assert not any("POWERDOWN" in f.fields["message"] for f in logs)  # debug: dropped ...
    wanted = sos_ctx(interesting=lambda m: "POWERDOWN" in m)  # ... unless a rule wants it
    power = [f for f in facts(wanted, "log") if "POWERDOWN" in f.fields["message"]]
    assert len(power) == 1 and power[0].fields["priority"] == 7


def test_sos_from_virsh_output_only(tmp_path, sos_dir, sos_ctx):
    """A report with the virsh plugin's output and no libvirt files."""
    root = tmp_path / "sos"
    (root / "sos_commands" / "virsh").mkdir(parents=True)
    for name in ("virsh_-r_list_--all", "virsh_-r_dominfo_hm-full"):
        shutil.copy(os.path.join(sos_dir, "sos_commands", "virsh", name), root / "sos_commands" / "virsh")
    status_xml = open(os.path.join(sos_dir, "run/libvirt/qemu/hm-full.xml")).read()
    inner = status_xml[status_xml.index("  <domain type"):status_xml.index("</domstatus>")]
    (root / "sos_commands" / "virsh" / "virsh_-r_dumpxml_hm-full").write_text(
        re.sub(r"(?m)^  ", "", inner))
    ctx = sos_ctx(path=str(root))
    full = one(ctx, "domain", name="hm-full")
    assert full.fields["state"] == "paused" and "reason" not in full.fields  # virsh list has none
    assert full.fields["persistent"] is True  # virsh dominfo
    assert full.fields["agent_state"] == "disconnected"  # dumpxml of a running domain is live
    assert full.source.name == "sos_commands/virsh/virsh_-r_dumpxml_hm-full"
    assert one(ctx, "domain", name="hm-off").fields["state"] == "shutoff"
    assert "balloon_model" not in one(ctx, "domain", name="hm-off").fields  # no XML at all
    assert one(ctx, "domain_disk", domain="hm-full").fields["source"] == "/srv/hm-tiny/hm-full.qcow2"


def test_sos_without_libvirt(tmp_path, sos_ctx):
    (tmp_path / "sos" / "sos_commands" / "kernel").mkdir(parents=True)
    ctx = sos_ctx(path=str(tmp_path / "sos"))
    assert len(ctx.facts.facts) == 1
    [status] = statuses(ctx)
    assert status.fields["status"] == "absent" and "libvirt" in status.fields["hint"]


def test_parse_virsh_list():
    new = (" Id   Name      State\n--------------------------\n 1    hm-full   paused\n"
           " -    hm-off    shut off\n\n")
    assert lv.parse_virsh_list(new) == {"hm-full": "paused", "hm-off": "shutoff"}
    old = (" Id    Name                           State\n"
           "----------------------------------------------------\n"
           " 2     instance-00000006              running\n"
           " -     win 10                         in shutdown\n")
    assert lv.parse_virsh_list(old) == {"instance-00000006": "running", "win 10": "shutdown"}
    assert lv.parse_virsh_list("error: failed to connect to the hypervisor\n") == {}


# -- malformed input ------------------------------------------------------------------------

def test_malformed_definition_names_the_file(sos_copy, sos_ctx):
    path = sos_copy / "etc/libvirt/qemu/hm-ro.xml"
    text = path.read_text()
    path.write_text(text[:text.index("<devices>") + 40])  # cut short, as by a full disk
    ctx = sos_ctx(path=str(sos_copy))
    bad = [s for s in statuses(ctx) if s.fields["status"] == "failed"]
    assert len(bad) == 1
    detail = bad[0].fields["detail"]
    assert re.fullmatch(r"etc/libvirt/qemu/hm-ro\.xml: parse error at line \d+: .+", detail), detail
    assert bad[0].fields["what"] == "etc/libvirt/qemu/hm-ro.xml" and bad[0].fields["hint"]
    # the domain is still described from its live status; the others are untouched
    ro = one(ctx, "domain", name="hm-ro")
    assert ro.fields["state"] == "running" and ro.source.name == "run/libvirt/qemu/hm-ro.xml"
    assert "live_discard" not in one(ctx, "domain_disk", domain="hm-ro").fields
    assert len(facts(ctx, "domain")) == 4


def test_malformed_status_files(sos_copy, sos_ctx):
    (sos_copy / "run/libvirt/qemu/hm-full.xml").write_text(
        "<domstatus state='paused' reason='ioerror' pid='2351'>\n  <domain type='qemu'>\n"
        "    <name>hm-full</nam>\n")
    (sos_copy / "run/libvirt/qemu/hm-bal.xml").write_text("<network><name>x</name></network>\n")
    ctx = sos_ctx(path=str(sos_copy))
    details = sorted(s.fields["detail"] for s in statuses(ctx) if s.fields["status"] == "failed")
    assert details == [
        "run/libvirt/qemu/hm-bal.xml: not a libvirt domain XML (root element <network>)",
        "run/libvirt/qemu/hm-full.xml: parse error at line 3: mismatched tag"]
    full = one(ctx, "domain", name="hm-full")  # from its persistent definition now
    assert full.source.name == "etc/libvirt/qemu/hm-full.xml"
    assert full.fields["state"] == "paused"  # virsh list still says so


def test_xml_with_doctype_is_refused():
    with pytest.raises(lv.XmlError, match="DOCTYPE"):
        lv.parse_xml('<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaa">]>\n<domain/>')


# -- small parts ----------------------------------------------------------------------------

def test_memory_units():
    el = lv.ET.fromstring("<memory unit='GiB'>2</memory>")
    assert lv.memory_kib(el) == 2 * 1024 * 1024
    assert lv.memory_kib(lv.ET.fromstring("<memory>4096</memory>")) == 4096  # KiB by default
    assert lv.memory_kib(lv.ET.fromstring("<memory unit='b'>1048576</memory>")) == 1024
    assert lv.memory_kib(lv.ET.fromstring("<memory unit='parsec'>1</memory>")) is None


def test_console_status_lines_lose_their_colours():
    text = ("[  \x1b[0;32mOK\x1b[0m  ] Stopped target multi-user.target - Multi-User System.\r\n"
            "[\x1b[0;1;31m*\x1b[0m\x1b[0;31m*    \x1b[0m] (2 of 3) Job hm-w4.service/stop running (23s / 30s)\r\n"
            "[   93.127784] reboot: Restarting system\r\n")
    lines = lv.parse_console_log(text)
    assert [l.message for l in lines] == [
        "[  OK  ] Stopped target multi-user.target - Multi-User System.",
        "[**    ] (2 of 3) Job hm-w4.service/stop running (23s / 30s)",
        "reboot: Restarting system"]
    assert [l.fields["ident"] for l in lines] == [None, None, "kernel"]


def test_run_all_finds_the_collector(make_ctx, sos_dir):
    ctx = make_ctx(SosreportSource(sos_dir))
    run_all(ctx, only=["libvirt"])
    assert [s.fields["status"] for s in statuses(ctx)] == ["ok"]


def test_rule_pack_sees_the_incidents(sos_dir):
    """End to end through `diagnose`: the committed rules read these facts as they are."""
    r = subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", "--sosreport", sos_dir,
                        "--format", "json"], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    rules = {f["rule"] for f in doc["findings"]}
    assert {"memballoon-oom", "fs-readonly-after-discard"} <= rules, doc["findings"]
    assert [s["status"] for s in doc["collector_status"] if s["collector"] == "libvirt"] == ["ok"]


def test_a_redrawn_status_line_loses_the_reverse_index_escape():
    # systemd 252 on a Debian 12 guest's serial console (the lab's nfs-unmount guest), verbatim:
    # each redraw starts with ESC M (reverse index) and ESC [K (erase line)
    text = ("[ \x1b[0;31m*\x1b[0;1;31m*\x1b[0m\x1b[0;31m*  \x1b[0m] Job mnt-nfs.mount/stop running (4s / 1min 31s)\r\r\n"
            "\x1bM\r\r\x1b[K[\x1b[0;31m*\x1b[0;1;31m*\x1b[0m\x1b[0;31m*   \x1b[0m] Job mnt-nfs.mount/stop running (5s / 1min 31s)\r\r\n")
    assert [l.message for l in lv.parse_console_log(text)] == [
        "[ ***  ] Job mnt-nfs.mount/stop running (4s / 1min 31s)",
        "[***   ] Job mnt-nfs.mount/stop running (5s / 1min 31s)"]
