"""The kernel collector: modules, /dev/kvm, CPU flags, taint, EDAC, rasdaemon and mcelog,
on this host and from sosreport trees laid out the way sos 4.x writes them."""
from __future__ import annotations

import os
import shutil

import pytest

from hostmedic.collectors import kernel
from hostmedic.engine.sources import LocalSource, SosreportSource

KDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "kernel")


def sos_tree(tmp_path, files: dict[str, str | None]) -> str:
    """A sosreport folder: {path in the report: fixture file name, or None for an empty file}."""
    root = tmp_path / "sosreport-host1-2024-11-21"
    (root / "sos_commands").mkdir(parents=True)
    (root / "version.txt").write_text("sosreport: 4.5.6\n")
    for rel, fixture in files.items():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if fixture is None:
            dest.write_text("")
        elif os.path.exists(os.path.join(KDATA, fixture)):
            shutil.copy(os.path.join(KDATA, fixture), dest)
        else:
            dest.write_text(fixture)
    return str(root)


def facts(ctx, kind):
    return [f for f in ctx.facts.facts if f.kind == kind]


def statuses(ctx):
    return [f.fields for f in facts(ctx, "collector_status")]


# -- parsers on real output ------------------------------------------------------

def test_proc_modules_and_lsmod_give_the_same_names():
    proc = kernel.parse_modules(open(os.path.join(KDATA, "proc_modules_intel_laptop")).read())
    lsmod = kernel.parse_modules(open(os.path.join(KDATA, "lsmod_dell_ubuntu1404")).read())
    kvm = next(m for m in proc if m["name"] == "kvm")
    assert (kvm["size"], kvm["used_by"]) == (774144, "kvm_intel")
    assert next(m for m in proc if m["name"] == "uas")["used_by"] == ""
    assert "Module" not in {m["name"] for m in lsmod}  # the header line
    assert {"kvm", "kvm_intel", "irqbypass"} <= {m["name"] for m in lsmod}
    assert next(m for m in lsmod if m["name"] == "edac_core")["used_by"] == "ie31200_edac"


def test_cpuinfo_of_an_intel_host_and_of_a_guest_without_nested_virtualisation():
    host = kernel.parse_cpuinfo(open(os.path.join(KDATA, "cpuinfo_intel_celeron_vmx")).read())
    assert (host["vmx"], host["svm"], host["hypervisor"], host["virt"], host["cpus"]) == (True, False, False, "vmx", 2)
    assert host["model"] == "Intel(R) Celeron(R) CPU 1007U @ 1.50GHz"
    guest = kernel.parse_cpuinfo(open(os.path.join(KDATA, "cpuinfo_amd_epyc_guest")).read())
    assert (guest["vmx"], guest["svm"], guest["hypervisor"], guest["virt"]) == (False, False, True, "none")
    assert guest["vendor"] == "AuthenticAMD"


def test_taint_letters_follow_the_kernel_documentation():
    assert kernel.decode_taint(0)["flags"] == "none"
    t = kernel.decode_taint(4096 + 1)  # out-of-tree + proprietary (a ZFS host)
    assert (t["flags"], t["died"]) == ("PO", False)
    t = kernel.decode_taint(128 + 512)  # D (died) and W (warning)
    assert (t["flags"], t["died"], t["warning"], t["machine_check"]) == ("DW", True, True, False)
    assert kernel.decode_taint(16)["machine_check"] and kernel.decode_taint(1 << 14)["soft_lockup"]


def test_ras_mc_ctl_summary_sections():
    ghes = kernel.parse_ras_summary(open(os.path.join(KDATA, "ras-mc-ctl_--summary_ghes_corrected")).read())
    assert [(e["section"], e["error_type"], e["count"], e["uncorrected"], e["label"]) for e in ghes] == \
        [("memory", "Corrected", 1, False, "unknown memory")]
    arm = kernel.parse_ras_summary(open(os.path.join(KDATA, "ras-mc-ctl_--summary_arm_uncorrected")).read())
    assert [(e["error_type"], e["location"], e["uncorrected"]) for e in arm] == [("Uncorrected", "0:18:-1:-1", True)]
    assert kernel.parse_ras_summary(open(os.path.join(KDATA, "ras-mc-ctl_--summary_clean")).read()) == []
    mce = kernel.parse_ras_summary("No Memory errors.\n\nMCE records summary:\n\t3 Corrected error errors\n")
    assert [(e["section"], e["count"], e["uncorrected"]) for e in mce] == [("mce", 3, False)]


def test_dev_listing_top_folder_only():
    listing = open(os.path.join(KDATA, "ls_-lanR_.dev")).read()
    assert kernel.dev_listing_has(listing, "kvm") is True
    assert kernel.dev_listing_has(listing, "no-such-device") is False
    # a "kvm" in a subfolder is not /dev/kvm
    sub = "/dev:\ntotal 0\ncrw-rw-rw- 1 0 0 1, 3 Nov 20 03:39 null\n\n/dev/vfio:\ntotal 0\ncrw------- 1 0 0 10, 196 Nov 20 03:39 kvm\n"
    assert kernel.dev_listing_has(sub, "kvm") is False
    assert kernel.dev_listing_has("total 0\n", "kvm") is None


# -- from sosreports -------------------------------------------------------------

def test_sosreport_of_a_kvm_host(tmp_path, make_ctx):
    root = sos_tree(tmp_path, {
        "proc/modules": "proc_modules_intel_laptop",
        "proc/cpuinfo": "cpuinfo_intel_celeron_vmx",
        "proc/sys/kernel/tainted": "4097\n",
        "sos_commands/block/ls_-lanR_.dev": "ls_-lanR_.dev",
        "sos_commands/rasdaemon/ras-mc-ctl_--summary": "ras-mc-ctl_--summary_ghes_corrected",
        "var/log/mcelog": "mcelog_samsung_uncorrected",
    })
    with SosreportSource(root) as src:
        ctx = make_ctx(src)
        kernel.collect(ctx)
    assert len(facts(ctx, "kernel_module")) == 27
    (km,) = facts(ctx, "kvm_modules")
    assert (km.fields["loaded"], km.fields["names"]) == (True, "kvm_intel")
    (dev,) = facts(ctx, "kvm_device")
    assert dev.fields["present"] is True and dev.source.name == "sos_commands/block/ls_-lanR_.dev"
    (cpu,) = facts(ctx, "cpu_flags")
    assert cpu.fields["virt"] == "vmx" and cpu.source.name == "proc/cpuinfo"
    (taint,) = facts(ctx, "kernel_taint")
    assert (taint.fields["flags"], taint.fields["text"]) == ("PO", "proc/sys/kernel/tainted: 4097 (PO)")
    (ras,) = facts(ctx, "ras_summary")
    assert ras.fields["count"] == 1 and ras.source.line == 2
    (mce,) = facts(ctx, "mcelog_summary")
    assert (mce.fields["events"], mce.fields["uncorrected"], mce.fields["last_time"]) == \
        (1, 1, "Mon Jul  7 20:16:46 2014")
    assert not facts(ctx, "edac_counter")  # sos copies no EDAC sysfs


def test_sosreport_with_lsmod_only_and_proc_misc(tmp_path, make_ctx):
    root = sos_tree(tmp_path, {"sos_commands/kernel/lsmod": "lsmod_dell_ubuntu1404",
                               "proc/misc": "proc_misc_linux24_no_kvm"})
    with SosreportSource(root) as src:
        ctx = make_ctx(src)
        kernel.collect(ctx)
    assert facts(ctx, "kvm_modules")[0].fields["loaded"] is True
    (dev,) = facts(ctx, "kvm_device")
    assert (dev.fields["present"], dev.fields["how"]) == (False, "/proc/misc")
    root2 = sos_tree(tmp_path / "b", {"proc/misc": "proc_misc_with_kvm"})
    with SosreportSource(root2) as src:
        ctx2 = make_ctx(src)
        kernel.collect(ctx2)
    (dev2,) = facts(ctx2, "kvm_device")
    assert dev2.fields["present"] is True and dev2.source.line is not None


def test_sosreport_without_any_of_it_says_not_collected(tmp_path, make_ctx):
    with SosreportSource(sos_tree(tmp_path, {})) as src:
        ctx = make_ctx(src)
        kernel.collect(ctx)
    kinds = {f.kind for f in ctx.facts.facts}
    assert kinds == {"collector_status"}
    whats = {s["what"]: s for s in statuses(ctx)}
    assert whats["/dev/kvm"]["status"] == "absent" and "block plugin" in whats["/dev/kvm"]["hint"]
    assert all(s["hint"] for s in statuses(ctx))


# -- this host ------------------------------------------------------------------------

def test_this_host(make_ctx):
    ctx = make_ctx(LocalSource())
    kernel.collect(ctx)
    if os.path.exists("/proc/cpuinfo"):
        (cpu,) = facts(ctx, "cpu_flags")
        assert isinstance(cpu.fields["vmx"], bool) and cpu.fields["cpus"] >= 1
    (dev,) = facts(ctx, "kvm_device")
    assert dev.fields["present"] == os.path.exists("/dev/kvm")
    (taint,) = facts(ctx, "kernel_taint")
    assert taint.fields["value"] == int(open("/proc/sys/kernel/tainted").read())
    if os.path.exists("/proc/modules"):
        assert facts(ctx, "kvm_modules")


def test_a_root_without_kvm_with_edac_counters(tmp_path, make_ctx):
    """Another root: no /dev/kvm, a module list without kvm, EDAC counters (hardware this
    machine does not have, laid out as the edac driver's sysfs files)."""
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "null").write_text("")
    (tmp_path / "proc").mkdir()
    shutil.copy(os.path.join(KDATA, "proc_modules_intel_laptop"), tmp_path / "proc" / "modules")
    with open(tmp_path / "proc" / "modules", "r+") as fh:
        kept = [l for l in fh if not l.startswith("kvm")]
        fh.seek(0), fh.truncate(), fh.writelines(kept)
    for mc, ce, ue in (("mc0", "14", "0"), ("mc1", "0", "0")):
        d = tmp_path / "sys/devices/system/edac/mc" / mc
        d.mkdir(parents=True)
        (d / "ce_count").write_text(ce + "\n")
        (d / "ue_count").write_text(ue + "\n")
    ctx = make_ctx(LocalSource(root=str(tmp_path)))
    kernel.collect(ctx)
    assert facts(ctx, "kvm_device")[0].fields["present"] is False
    assert facts(ctx, "kvm_modules")[0].fields["loaded"] is False
    assert [(f.fields["mc"], f.fields["ce"], f.fields["ue"]) for f in facts(ctx, "edac_counter")] == \
        [("mc0", 14, 0), ("mc1", 0, 0)]


@pytest.mark.parametrize("fixture,events,corrected,uncorrected", [
    ("mcelog_samsung_uncorrected", 1, 0, 1), ("mcelog_haswell_corrected", 1, 1, 0)])
def test_mcelog_files(tmp_path, make_ctx, fixture, events, corrected, uncorrected):
    with SosreportSource(sos_tree(tmp_path, {"var/log/mcelog": fixture})) as src:
        ctx = make_ctx(src)
        kernel.collect(ctx)
    (m,) = facts(ctx, "mcelog_summary")
    assert (m.fields["events"], m.fields["corrected"], m.fields["uncorrected"]) == (events, corrected, uncorrected)


def test_a_built_in_kvm_intel_counts_as_loaded(tmp_path, make_ctx):
    """CONFIG_KVM_INTEL=y: no module line, but sos copies sys/module/kvm_intel/parameters."""
    root = sos_tree(tmp_path, {"sos_commands/kernel/lsmod": "Module                  Size  Used by\n"
                                                            "fuse                  131072  2\n",
                               "sys/module/kvm_intel/parameters/nested": "Y\n"})
    with SosreportSource(root) as src:
        ctx = make_ctx(src)
        kernel.collect(ctx)
    (km,) = facts(ctx, "kvm_modules")
    assert (km.fields["loaded"], km.fields["names"]) == (True, "kvm_intel")
