"""The running kernel: modules, KVM support, CPU virtualisation flags, taint, memory errors.

Facts
    kernel_module   name, size, used_by, text                  one per loaded module
    kvm_modules     loaded (kvm_intel/kvm_amd present), names, text
    kvm_device      present (is there a /dev/kvm), how, text
    cpu_flags       vmx, svm, hypervisor, virt (vmx|svm|none), model, vendor, cpus, text
    kernel_taint    value, flags ("POE"), died (D), machine_check (M), bad_page (B),
                    soft_lockup (L), warning (W), text
    edac_counter    mc, ce, ue, text                           one per memory controller
    ras_summary     section (memory|mce|memory_failure), error_type, label, location,
                    count, uncorrected, text                   one per line of
                                                               `ras-mc-ctl --summary`
    mcelog_summary  events, corrected, uncorrected, last_time, text   (/var/log/mcelog)

Where each comes from, live and in a sosreport (sos 4.x plugin and file)::

    /proc/modules            kernel plugin: proc/modules, sos_commands/kernel/lsmod, and
                             sys/module/*/parameters (a built-in kvm_intel shows only there)
    /dev/kvm                 live: the /dev listing; sos copies no /dev, but its block plugin
                             lists it (`ls -lanR /dev`, sos >= 4.8 `ls -alZR /dev`) and its
                             kernel plugin copies /proc/misc, where a registered kvm device
                             is the line "232 kvm"
    /proc/cpuinfo            processor plugin: proc/cpuinfo
    /proc/sys/kernel/tainted kernel plugin: proc/sys/kernel/tainted
    /sys/.../edac/mc*/       live only (no sos plugin copies it)
    ras-mc-ctl --summary     rasdaemon plugin: sos_commands/rasdaemon/ras-mc-ctl_--summary
    /var/log/mcelog          hardware plugin: var/log/mcelog
"""
from __future__ import annotations

import re

from hostmedic.engine.facts import Provenance

NAME = "kernel"
KVM_ARCH_MODULES = ("kvm_intel", "kvm_amd", "kvm_hv", "kvm_pr")  # x86 Intel/AMD, POWER

# Documentation/admin-guide/tainted-kernels.rst: bit -> letter when set.
TAINT_LETTERS = "PFSRMBUDAWCIOELKXTNJ"
TAINT_BITS = {"died": 7, "machine_check": 4, "bad_page": 5, "soft_lockup": 14, "warning": 9}


def collect(ctx) -> None:
    _modules(ctx)
    _kvm_device(ctx)
    _cpuinfo(ctx)
    _taint(ctx)
    _edac(ctx)
    _ras_summary(ctx)
    _mcelog(ctx)


# -- modules ---------------------------------------------------------------

def parse_modules(text: str) -> list[dict]:
    """/proc/modules ("kvm 774144 1 kvm_intel, Live 0x0...") or lsmod
    ("kvm                   663552  1 kvm_intel"); lsmod's header line is skipped."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) < 3 or parts[0] == "Module" or not parts[1].isdecimal() or len(parts[1]) > 30:
            continue
        used_by = parts[3] if len(parts) > 3 and parts[3] not in ("-", "Live") else ""
        out.append({"name": parts[0], "size": int(parts[1]), "used_by": used_by.strip(","),
                    "lineno": lineno, "line": line.strip()})
    return out


def _modules(ctx) -> None:
    result = ctx.source.read("/proc/modules", sos_paths=["proc/modules"])
    if not result.ok:
        lsmod = ctx.source.run(["lsmod"], sos_paths=["sos_commands/kernel/lsmod", "lsmod"])
        result = lsmod if lsmod.ok else result
    if not result.ok:
        if result.status == "absent" and ctx.source.kind != "sosreport":
            ctx.status(NAME, "absent", detail="no /proc/modules: this kernel has no loadable-module support",
                       name="/proc/modules", hint="whether KVM works is judged from /dev/kvm alone")
        else:
            ctx.status(NAME, result, hint="loaded kernel modules are unknown, so is whether kvm is loaded")
        return
    modules = parse_modules(result.text)
    for mod in modules:
        ctx.add("kernel_module", {"name": mod["name"], "size": mod["size"], "used_by": mod["used_by"],
                                  "text": mod["line"]},
                Provenance("file", result.name, mod["lineno"]))
    names = [m["name"] for m in modules]
    # Built into the kernel (=y), kvm_intel is in no module list but has /sys/module/kvm_intel
    # (sos copies its parameters folder): count that as loaded too.
    kvm = [n for n in KVM_ARCH_MODULES if n in names or ctx.source.listdir(f"/sys/module/{n}")]
    if not modules and ctx.source.live:
        # A kernel built without module support lists nothing: say so instead of "not loaded".
        ctx.status(NAME, "absent", detail=f"{result.name} lists no modules (monolithic kernel?)",
                   name=result.name)
        return
    ctx.add("kvm_modules", {"loaded": bool(kvm), "names": " ".join(kvm) or "none",
                            "text": f"{result.name}: " + (f"{', '.join(kvm)} loaded" if kvm else
                                                          "neither kvm_intel nor kvm_amd is loaded")},
            Provenance("file", result.name))
    ctx.status(NAME, "ok", detail=f"{len(modules)} modules from {result.name}", name=result.name)


# -- /dev/kvm --------------------------------------------------------------

def dev_listing_has(text: str, entry: str) -> bool | None:
    """Whether the top folder of a recursive `ls -l /dev` listing holds `entry`
    (None when the listing has no /dev section)."""
    in_top, seen_top = False, False
    for line in text.splitlines():
        if line.endswith(":") and line.startswith("/"):
            in_top = line.rstrip(":").rstrip("/") == "/dev"
            seen_top = seen_top or in_top
            continue
        if in_top and line[:1] in "bcdlps-" and line.split()[-1:] == [entry]:
            return True
    return False if seen_top else None


def _kvm_device(ctx) -> None:
    if ctx.source.kind != "sosreport":
        entries = ctx.source.listdir("/dev")
        if not entries:
            ctx.status(NAME, "denied", detail="/dev could not be listed", name="/dev",
                       hint="cannot tell whether /dev/kvm exists")
            return
        present = "kvm" in entries
        ctx.add("kvm_device", {"present": present, "how": "/dev listing",
                               "text": "/dev/kvm exists" if present else "/dev/kvm does not exist"},
                Provenance("file", "/dev"))
        return
    for argv in (["ls", "-lanR", "/dev"], ["ls", "-alZR", "/dev"], ["ls", "-alZRn", "/dev/"]):
        listing = ctx.source.run(argv)
        if listing.ok:
            present = dev_listing_has(listing.text, "kvm")
            if present is not None:
                ctx.add("kvm_device", {"present": present, "how": "ls of /dev",
                                       "text": f"{listing.name}: " + ("kvm is listed in /dev" if present
                                                                      else "no kvm in /dev")},
                        Provenance("command", listing.name))
                return
    misc = ctx.source.read("/proc/misc", sos_paths=["proc/misc"])
    if misc.ok and misc.text.strip():
        line = next((i for i, l in enumerate(misc.lines(), 1) if l.split()[1:2] == ["kvm"]), None)
        ctx.add("kvm_device", {"present": line is not None, "how": "/proc/misc",
                               "text": f"{misc.name}: " + ("misc device kvm is registered" if line
                                                           else "no kvm misc device registered")},
                Provenance("file", misc.name, line))
        return
    ctx.status(NAME, "absent", detail="/dev/kvm: not collected in this sosreport", name="/dev/kvm",
               hint="sos's block plugin (ls of /dev) or kernel plugin (/proc/misc) shows it")


# -- /proc/cpuinfo -----------------------------------------------------------

def parse_cpuinfo(text: str) -> dict:
    """The first CPU's flags and model, and how many CPUs there are."""
    first: dict[str, str] = {}
    cpus = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "processor":
            cpus += 1
        if cpus <= 1 and key not in first:
            first[key] = value.strip()
    flags = set((first.get("flags") or first.get("Features") or "").split())
    virt = "vmx" if "vmx" in flags else "svm" if "svm" in flags else "none"
    return {"vmx": "vmx" in flags, "svm": "svm" in flags, "hypervisor": "hypervisor" in flags,
            "virt": virt, "model": first.get("model name") or first.get("cpu model") or "unknown",
            "vendor": first.get("vendor_id", "unknown"), "cpus": cpus, "has_flags": bool(flags)}


def _cpuinfo(ctx) -> None:
    result = ctx.source.read("/proc/cpuinfo", sos_paths=["proc/cpuinfo"])
    if not result.ok:
        ctx.status(NAME, result, hint="CPU virtualisation flags (vmx/svm) are unknown")
        return
    info = parse_cpuinfo(result.text)
    if not info.pop("has_flags"):
        ctx.status(NAME, "failed", detail=f"{result.name}: no flags line", name=result.name)
        return
    where = "a virtual machine" if info["hypervisor"] else "no hypervisor flag"
    info["text"] = (f"{info['model']} x{info['cpus']}: virtualisation "
                    f"{info['virt'] if info['virt'] != 'none' else 'not offered (no vmx/svm)'}, {where}")
    ctx.add("cpu_flags", info, Provenance("file", result.name))


# -- taint -----------------------------------------------------------------

def decode_taint(value: int) -> dict:
    letters = "".join(ch for bit, ch in enumerate(TAINT_LETTERS) if value >> bit & 1)
    fields = {"value": value, "flags": letters or "none"}
    fields.update({name: bool(value >> bit & 1) for name, bit in TAINT_BITS.items()})
    return fields


def _taint(ctx) -> None:
    # Through cat: a /proc/sys file read with one huge read() fails (the kernel allocates a
    # buffer as large as the request: ENOMEM), which Source.read does.
    result = ctx.source.run(["cat", "/proc/sys/kernel/tainted"], sos_paths=["proc/sys/kernel/tainted"])
    if not result.ok or not (result.text.strip().isdecimal() and len(result.text.strip()) <= 20):
        if not result.ok:
            ctx.status(NAME, result, hint="kernel taint (oops, machine check, soft lockup) unknown")
        return
    where = result.name if ctx.source.kind == "sosreport" else "/proc/sys/kernel/tainted"
    fields = decode_taint(int(result.text.strip()))
    fields["text"] = f"{where}: {fields['value']} ({fields['flags']})"
    ctx.add("kernel_taint", fields, Provenance("file", where))


# -- EDAC, rasdaemon, mcelog ----------------------------------------------------

EDAC_MC = "/sys/devices/system/edac/mc"


def _edac(ctx) -> None:
    if ctx.source.kind == "sosreport":
        return  # no sos plugin copies the EDAC counters; ras-mc-ctl and logs stand in
    controllers = [d for d in ctx.source.listdir(EDAC_MC) if re.fullmatch(r"mc\d+", d)]
    if not controllers:
        ctx.status(NAME, "absent", detail=f"{EDAC_MC}: no memory controller", name=EDAC_MC,
                   hint="no EDAC driver is loaded (normal in a VM); memory errors show only in logs")
        return
    for mc in controllers:
        counts = {}
        for key in ("ce_count", "ue_count"):
            res = ctx.source.read(f"{EDAC_MC}/{mc}/{key}")
            if res.ok and res.text.strip().isdecimal() and len(res.text.strip()) <= 20:
                counts[key] = int(res.text.strip())
        if len(counts) == 2:
            ctx.add("edac_counter", {"mc": mc, "ce": counts["ce_count"], "ue": counts["ue_count"],
                                     "text": f"{EDAC_MC}/{mc}: ce_count {counts['ce_count']}, "
                                             f"ue_count {counts['ue_count']}"},
                    Provenance("file", f"{EDAC_MC}/{mc}"))


_RAS_SECTION = re.compile(r"^(?P<what>Memory controller events|MCE records|Memory failure events) summary:")
_RAS_MEMORY = re.compile(r"^\s+(?P<type>\S+(?: \S+)*?) on DIMM Label\(s\): '(?P<label>[^']*)'\s+"
                         r"location: (?P<location>\S+) errors: (?P<count>\d{1,18})")
_RAS_COUNTED = re.compile(r"^\s+(?P<count>\d{1,18}) (?P<type>.+?) errors$")
_RAS_FAILURE = re.compile(r"^\s+(?P<type>.+?) errors: (?P<count>\d{1,18})$")


def parse_ras_summary(text: str) -> list[dict]:
    """`ras-mc-ctl --summary`: the memory-controller, MCE and memory-failure sections."""
    out, section = [], None
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _RAS_SECTION.match(line)
        if m:
            section = {"Memory controller events": "memory", "MCE records": "mce",
                       "Memory failure events": "memory_failure"}[m["what"]]
            continue
        if not line.startswith((" ", "\t")):
            section = None  # "No Memory errors.", "PCIe AER events summary:", ...
            continue
        m = {"memory": _RAS_MEMORY, "mce": _RAS_COUNTED, "memory_failure": _RAS_FAILURE}.get(section or "", None)
        m = m.match(line) if m else None
        if m:
            fields = {"section": section, "error_type": m["type"], "count": int(m["count"]),
                      "label": m.groupdict().get("label") or "", "location": m.groupdict().get("location") or "",
                      "lineno": lineno, "text": line.strip()}
            kind = fields["error_type"].lower()
            # memory_failure() only runs for uncorrectable errors (a page was poisoned)
            fields["uncorrected"] = "uncorrect" in kind or "fatal" in kind or section == "memory_failure"
            out.append(fields)
    return out


def _ras_summary(ctx) -> None:
    result = ctx.source.run(["ras-mc-ctl", "--summary"])
    if not result.ok:
        if result.status not in ("missing", "absent"):
            ctx.status(NAME, result, hint="rasdaemon's error database could not be read")
        return
    for entry in parse_ras_summary(result.text):
        lineno = entry.pop("lineno")
        ctx.add("ras_summary", entry, Provenance("command", result.name, lineno))


_MCELOG_EVENT = re.compile(r"^Hardware event\. This is not a software error\.")
_MCELOG_TIME = re.compile(r"^TIME \d+ (?P<when>.+)$")


def _mcelog(ctx) -> None:
    result = ctx.source.read("/var/log/mcelog")
    if not result.ok or not result.text.strip():
        return  # mcelog is seldom installed (rasdaemon replaced it); silence is normal
    events = corrected = uncorrected = 0
    last_time = ""
    for line in result.lines():
        if _MCELOG_EVENT.match(line):
            events += 1
        elif line.strip() == "Corrected error":
            corrected += 1
        elif line.strip() == "Uncorrected error":
            uncorrected += 1
        elif (m := _MCELOG_TIME.match(line)):
            last_time = m["when"].strip()
    if events:
        ctx.add("mcelog_summary", {"events": events, "corrected": corrected, "uncorrected": uncorrected,
                                   "last_time": last_time or "unknown",
                                   "text": f"{result.name}: {events} hardware events ({corrected} corrected, "
                                           f"{uncorrected} uncorrected), last {last_time or 'at an unknown time'}"},
                Provenance("file", result.name))
