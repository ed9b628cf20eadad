"""Scenarios as data (scenarios/*.yaml), the guest each one boots, and the fault it suffers.

A scenario file says: the guest (role on its kernel command line, memory, disk, agent
channel), the fault (one of FAULTS below), what the diagnosis must find (the leading rule
id, or null for "nothing at warning or above", and strings the finding must name), and the
fixes to apply for real (lab_fixes.FIXES).
"""
from __future__ import annotations

import glob
import os
import re
import time
from dataclasses import dataclass, field

import yaml

import lab_guest
from lab_fixes import FIXES
from lab_host import (QEMU_LOG_DIR, Cleanup, LabError, define_domain, log, loop_storage, read_text,
                      remove_later, replace_file, run, start_rsyslog, virsh, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO_DIR = os.path.join(HERE, "scenarios")
LIBVIRTD_LOG = "/var/log/libvirt/libvirtd.log"
BOOT_TIMEOUT = 150  # a tiny guest is up in 5 s alone; allow for a machine busy with other work
FAULT_TIMEOUT = 150

GUEST_KEYS = {"role", "memory_mib", "cmdline", "disk", "agent_channel"}
DISK_KEYS = {"size_mib", "storage_mib", "ballast_mib", "ext4", "driver"}
TOP_KEYS = {"name", "title", "guest", "fault", "fault_args", "expect", "fixes"}
SYSTEMD_KEYS = {"name", "title", "kind", "ci", "sos", "guests", "setup", "setup_args", "fault", "fault_args",
                "expect", "fixes"}
EXPECT_KEYS = {"rule", "also", "names", "absent", "grouped", "by_way"}
WAYS = {"hook", "host", "journal", "sos"}
ROLES = {"idle", "fill", "readonly", "balloon"}


def load(path: str) -> dict:
    with open(path) as fh:
        sc = yaml.safe_load(fh)
    problems = check(sc)
    if problems:
        raise LabError(f"{path}: " + "; ".join(problems))
    sc["file"] = os.path.basename(path)
    return sc


def _number(path: str) -> tuple[int, str]:
    head = os.path.basename(path).split("-", 1)[0]
    return (int(head) if head.isdigit() else 0, path)


def load_all(only: list[str] | None = None, ci_only: bool = False) -> list[dict]:
    """The scenarios in file order (1-, 2-, ... 10-); with CI_ONLY, the tiny-guest ones and
    the systemd ones marked `ci: true`."""
    scenarios = [load(p) for p in sorted(glob.glob(os.path.join(SCENARIO_DIR, "*.yaml")), key=_number)]
    if ci_only:
        scenarios = [s for s in scenarios if s.get("kind") != "systemd" or s.get("ci")]
    if only:
        unknown = set(only) - {s["name"] for s in scenarios}
        if unknown:
            raise LabError(f"no scenario named {', '.join(sorted(unknown))}")
        scenarios = [s for s in scenarios if s["name"] in only]
    return scenarios


def check(sc) -> list[str]:
    """What is wrong with a scenario file (an empty list when nothing is)."""
    if not isinstance(sc, dict):
        return ["not a mapping"]
    if sc.get("kind") == "systemd":
        return check_systemd(sc)
    problems = [f"unknown key {k!r}" for k in sc if k not in TOP_KEYS]
    for key in ("name", "title", "guest", "fault", "expect"):
        if key not in sc:
            problems.append(f"{key!r} is missing")
    if not re.fullmatch(r"[a-z0-9-]{1,20}", str(sc.get("name", ""))):
        problems.append("name: 1 to 20 of a-z, 0-9 and '-' (it becomes part of the domain name)")
    guest = sc.get("guest") or {}
    problems += [f"guest: unknown key {k!r}" for k in guest if k not in GUEST_KEYS]
    if guest.get("role", "idle") not in ROLES:
        problems.append(f"guest.role must be one of {', '.join(sorted(ROLES))}")
    disk = guest.get("disk") or {}
    problems += [f"guest.disk: unknown key {k!r}" for k in disk if k not in DISK_KEYS]
    if disk and not all(isinstance(disk.get(k), int) for k in ("size_mib", "storage_mib")):
        problems.append("guest.disk needs size_mib and storage_mib (MiB)")
    if sc.get("fault") not in FAULTS:
        problems.append(f"fault must be one of {', '.join(sorted(FAULTS))}")
    expect = sc.get("expect") or {}
    if "rule" not in expect:
        problems.append("expect.rule is missing (null: no finding at warning or above)")
    for key in ("names", "absent"):
        if not isinstance(expect.get(key, []), list):
            problems.append(f"expect.{key} must be a list")
    problems += [f"unknown fix {f!r}" for f in sc.get("fixes") or [] if f not in FIXES]
    return problems


def check_systemd(sc: dict) -> list[str]:
    import lab_systemd  # its faults and set-ups are the vocabulary of these files
    problems = [f"unknown key {k!r}" for k in sc if k not in SYSTEMD_KEYS]
    for key in ("name", "title", "guests", "fault", "expect"):
        if key not in sc:
            problems.append(f"{key!r} is missing")
    if not re.fullmatch(r"[a-z0-9-]{1,20}", str(sc.get("name", ""))):
        problems.append("name: 1 to 20 of a-z, 0-9 and '-' (it becomes part of the domain names)")
    guests = sc.get("guests") or []
    if guests not in lab_systemd.GUEST_SETS:
        problems.append("guests: [plain] or [nfs-server, nfs-client] (the last one is diagnosed)")
    problems += [f"unknown set-up {s!r}" for s in sc.get("setup") or [] if s not in lab_systemd.SETUPS]
    if sc.get("fault") not in lab_systemd.FAULTS:
        problems.append(f"fault must be one of {', '.join(sorted(lab_systemd.FAULTS))}")
    expect = sc.get("expect") or {}
    problems += [f"expect: unknown key {k!r}" for k in expect if k not in EXPECT_KEYS]
    if "rule" not in expect:
        problems.append("expect.rule is missing (null: no finding at warning or above)")
    for key in ("also", "names", "absent", "grouped"):
        if not isinstance(expect.get(key, []), list):
            problems.append(f"expect.{key} must be a list")
    for way, override in (expect.get("by_way") or {}).items():
        if way not in WAYS or not isinstance(override, dict) or set(override) - (EXPECT_KEYS - {"by_way"}):
            problems.append(f"expect.by_way.{way}: a way ({', '.join(sorted(WAYS))}) with expect keys")
    for fix in sc.get("fixes") or []:
        if not isinstance(fix, dict) or not isinstance(fix.get("id"), str):
            problems.append(f"fixes: each is {{id: FIX, args: [...]}}, not {fix!r}")
    return problems


@dataclass
class Guest:
    """One scenario's domain and everything around it."""

    scenario: dict
    name: str
    workdir: str
    cleanup: Cleanup
    boot: dict  # kernel, initrd
    storage: str | None = None  # mount point of the small host file system
    disk_path: str | None = None
    ballast: str | None = None
    console_log: str = ""
    qemu_log: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def words(self) -> dict[str, str]:
        return {"domain": self.name, "storage": self.storage or "", "disk": self.disk_path or ""}

    def console(self) -> str:
        return read_text(self.console_log)

    def qemu(self) -> str:
        return read_text(self.qemu_log)

    def state(self) -> str:
        return virsh("domstate", self.name, "--reason").stdout.strip()

    def wait_console(self, pattern: str, timeout: float = FAULT_TIMEOUT, start: int = 0) -> re.Match:
        rx = re.compile(pattern, re.M)
        return wait_for(f"{self.name}'s console to show /{pattern}/",
                        lambda: rx.search(self.console(), start), timeout)

    def start(self) -> None:
        virsh("start", self.name)
        self.wait_console(r"^hm: ready ", BOOT_TIMEOUT)


def prepare(sc: dict, workdir: str, boot: dict, cleanup: Cleanup) -> Guest:
    """Storage, disk image and persistent definition of the scenario's guest (not started)."""
    g = Guest(sc, f"hm-lab-{sc['name']}", workdir, cleanup, boot)
    g.console_log = f"{QEMU_LOG_DIR}/{g.name}-serial0.log"
    g.qemu_log = f"{QEMU_LOG_DIR}/{g.name}.log"
    guest = sc["guest"]
    disk = None
    if guest.get("disk"):
        d = guest["disk"]
        g.storage = loop_storage(cleanup, workdir, f"{sc['name']}-store", d["storage_mib"])
        g.disk_path = os.path.join(g.storage, f"{g.name}.qcow2")
        if d.get("ext4"):
            raw = os.path.join(workdir, f"{sc['name']}.raw")
            with open(raw, "wb") as fh:
                fh.truncate(d["size_mib"] << 20)
            run(["mkfs.ext4", "-q", "-F", raw])
            run(["qemu-img", "convert", "-q", "-O", "qcow2", raw, g.disk_path], timeout=120)
            os.unlink(raw)
        else:
            run(["qemu-img", "create", "-q", "-f", "qcow2", g.disk_path, f"{d['size_mib']}M"])
        if d.get("ballast_mib"):
            g.ballast = os.path.join(g.storage, "ballast")
            with open(g.ballast, "wb") as fh:
                for _ in range(d["ballast_mib"]):
                    fh.write(b"\xa5" * (1 << 20))  # real blocks, not a sparse file
                fh.flush()
                os.fsync(fh.fileno())
        disk = {"path": g.disk_path, "driver": dict(d.get("driver") or {})}
    cmdline = {"hm_role": guest.get("role", "idle"), **(guest.get("cmdline") or {})}
    xml = lab_guest.domain_xml(g.name, boot["kernel"], boot["initrd"], g.console_log,
                               memory_mib=guest.get("memory_mib", 256), cmdline=cmdline, disk=disk,
                               agent_channel=bool(guest.get("agent_channel")))
    xml_path = os.path.join(workdir, f"{g.name}.xml")
    with open(xml_path, "w") as fh:
        fh.write(xml)
    define_domain(cleanup, xml_path, g.name)
    return g


# -- faults ---------------------------------------------------------------------------------

def pause_on_full_storage(g: Guest, args: dict) -> str:
    state = wait_for(f"{g.name} to pause on an I/O error",
                     lambda: (s := g.state()).startswith("paused") and s, FAULT_TIMEOUT)
    if state != "paused (I/O error)":
        raise LabError(f"{g.name} paused, but for another reason: {state}")
    blk = virsh("domblkerror", g.name).stdout.strip()
    return f"{state}; domblkerror: {blk}"


def guest_remounts_readonly(g: Guest, args: dict) -> str:
    g.wait_console(r"Remounting filesystem read-only")
    g.wait_console(r"^hm: readonly: cannot write to /mnt any more")
    return f"guest ext4 read-only; domain {g.state()}"


def inflate_balloon(g: Guest, args: dict) -> str:
    mib = int(args.get("setmem_mib", 128))
    virsh("setmem", g.name, f"{mib}M", "--live")
    m = g.wait_console(r"Out of memory: Killed process \d+ \((?P<comm>[^)]*)\)")
    actual = re.search(r"^actual (\d+)", virsh("dommemstat", g.name).stdout, re.M)
    return f"balloon actual {actual[1] if actual else '?'} KiB; OOM killed {m['comm']}"


def acpi_shutdown_ignored(g: Guest, args: dict) -> str:
    """libvirt-guests.sh stop, as a host shutdown runs it, with a short SHUTDOWN_TIMEOUT
    (it reads that from /etc/default/libvirt-guests only); its output goes to the system log,
    as the service manager would send it. Then the domain is destroyed, as an admin would."""
    timeout = int(args.get("shutdown_timeout", 10))
    running = virsh("list", "--name").stdout.split()
    if running != [g.name]:  # it would ask every running guest to shut down
        raise LabError(f"libvirt-guests.sh stop acts on every running domain, and these run: {running}")
    start_rsyslog(g.cleanup)
    monitor_log_level(g.cleanup)
    conf = "/etc/default/libvirt-guests"
    with open(conf) as fh:
        text = fh.read()
    replace_file(g.cleanup, conf, text + f"\n# hostmedic lab\nON_SHUTDOWN=shutdown\nSHUTDOWN_TIMEOUT={timeout}\n")
    listfile = "/var/lib/libvirt/libvirt-guests"  # the guests it will resume on the next start
    if os.path.exists(listfile):
        raise LabError(f"{listfile} exists: libvirt-guests.sh stop would do nothing until a start")
    remove_later(g.cleanup, listfile)
    done = run(["sh", "-c", "/usr/lib/libvirt/libvirt-guests.sh stop 2>&1 | logger -t libvirt-guests.sh"],
               timeout=timeout + 90)
    if not g.state().startswith("running"):
        raise LabError(f"{g.name} did not ignore the shutdown request: {g.state()}")
    virsh("destroy", g.name)
    wait_for(f"{g.qemu_log} to say the domain was destroyed",
             lambda: "shutting down, reason=destroyed" in g.qemu(), 30)
    with open(LIBVIRTD_LOG, errors="replace") as fh:
        asked = '"execute":"system_powerdown"' in fh.read()
    return (f"libvirt-guests gave up after {timeout} s ({done.returncode}); destroyed; libvirtd's "
            f"log {'shows' if asked else 'does not show'} the system_powerdown request")


def monitor_log_level(cleanup: Cleanup) -> None:
    """libvirtd logging its QEMU monitor traffic, as an admin sets it to see what was asked of
    a guest (`virt-admin`, no restart); the settings it had are put back at cleanup."""
    def current(what: str) -> str:
        out = run(["virt-admin", f"daemon-log-{what}"]).stdout
        return out.split(":", 1)[1].strip() if ":" in out else ""
    filters, outputs = current("filters"), current("outputs")
    run(["virt-admin", "daemon-log-filters", "1:qemu.qemu_monitor 3:*"])
    run(["virt-admin", "daemon-log-outputs", f"1:file:{LIBVIRTD_LOG}"])
    cleanup.push("restore libvirtd's log settings", lambda: (
        run(["virt-admin", "daemon-log-filters", filters]),
        run(["virt-admin", "daemon-log-outputs", outputs or f"3:file:{LIBVIRTD_LOG}"])))


def ask_missing_agent(g: Guest, args: dict) -> str:
    xml = virsh("dumpxml", g.name).stdout
    m = re.search(r"<target type='virtio' name='org.qemu.guest_agent.0'[^>]*state='(\w+)'", xml)
    if not m or m[1] != "disconnected":
        raise LabError(f"{g.name}'s agent channel is not disconnected: {m[0] if m else 'no channel'}")
    ping = virsh("qemu-agent-command", g.name, '{"execute":"guest-ping"}', check=False, timeout=60)
    if ping.returncode == 0:
        raise LabError(f"an agent answered in {g.name}: {ping.stdout.strip()}")
    return f"channel {m[1]}; {ping.stderr.strip().splitlines()[-1] if ping.stderr.strip() else ''}"


def nothing(g: Guest, args: dict) -> str:
    n = len(lab_guest.uptimes(g.console()))
    wait_for(f"{g.name} to keep running", lambda: len(lab_guest.uptimes(g.console())) >= n + 2, 60)
    return g.state()


FAULTS = {
    "pause-on-full-storage": pause_on_full_storage,
    "guest-remounts-readonly": guest_remounts_readonly,
    "inflate-balloon": inflate_balloon,
    "acpi-shutdown-ignored": acpi_shutdown_ignored,
    "ask-missing-agent": ask_missing_agent,
    "none": nothing,
}


def inflict(g: Guest) -> str:
    started = time.monotonic()
    what = FAULTS[g.scenario["fault"]](g, g.scenario.get("fault_args") or {})
    log(f"{g.name}: {g.scenario['fault']}: {what} ({time.monotonic() - started:.0f} s)")
    return what
