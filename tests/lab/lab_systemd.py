"""Scenarios on real systemd guests (scenario files with `kind: systemd`).

Each guest boots the image lab_image builds (Debian 12, systemd 252, hostmedic in
/opt/hostmedic) from a qcow2 overlay of its own. The host reaches each guest's sshd through
a port QEMU's user-mode network forwards on 127.0.0.1; an NFS server and its client talk
over a second link, a pair of UDP sockets on the host (no bridge, no privileges).

A scenario: boot the guests, install the post-reboot hook in the one under diagnosis
(`diagnose hook install`, nothing else), set up what the scenario needs (an NFS mount in
fstab, a service whose stop hangs), inflict the fault, let the guest reboot (or cut it),
and then read the diagnosis four ways, which must agree:

    hook      the report the hook wrote by itself after the next boot, copied out
    host      diagnose --host GUEST from the lab host, over SSH
    journal   the guest's /var/log/journal copied to the host, diagnose --journal-dir
    sos       (where the scenario asks) a real `sos report` made in the guest, diagnose --sosreport

Fixes are then applied in the guest with `diagnose fix ... --apply`, the fault is inflicted
again, and the time the reboot took before and after goes into the table.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass, field

import lab_diagnose
import lab_guest
from lab_diagnose import SERIOUS, Way
from lab_host import QEMU_LOG_DIR, Cleanup, LabError, define_domain, log, read_text, run, virsh, wait_for

USER_MAC = "52:54:00:4d:00:01"  # matched by guest-root/etc/systemd/network/10-lab-user.network
LINK_MAC = {"nfs-server": "52:54:00:4d:01:01", "nfs-client": "52:54:00:4d:01:02"}
SERVER_IP = "10.77.0.1"
GUEST_SETS = (["plain"], ["nfs-server", "nfs-client"])  # what a scenario may boot; the last is diagnosed
MEMORY_MIB = 512
BOOT_TIMEOUT = 420  # 35 s alone, 55 s with a second guest busy; allow for a loaded machine
HOOK_TIMEOUT = 900  # the hook runs niced, under emulation, after multi-user.target
GUEST_SOS_PLUGINS = "logs,systemd,filesys,block,kernel,host,nfs,memory,process"
LINUX_VERSION = re.compile(r"^\[\s*\d+\.\d+\] Linux version ", re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Access:
    """The lab's SSH key, known_hosts and ssh_config for every systemd guest."""

    folder: str
    host_key: str  # the image's ed25519 host key (public)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return os.path.join(self.folder, "id_ed25519")

    @property
    def config(self) -> str:
        return os.path.join(self.folder, "ssh_config")

    def write(self) -> None:
        with open(os.path.join(self.folder, "known_hosts"), "w") as fh:
            fh.write(f"hm-lab-guest {self.host_key}\n")
        blocks = [f"Host {name}\n  Port {port}\n" for name, port in sorted(self.ports.items())]
        blocks.append(f"Host hm-lab-*\n  HostName 127.0.0.1\n  User root\n  IdentityFile {self.key}\n"
                      f"  IdentitiesOnly yes\n  HostKeyAlias hm-lab-guest\n"
                      f"  UserKnownHostsFile {self.folder}/known_hosts\n  StrictHostKeyChecking yes\n"
                      f"  LogLevel ERROR\n  ConnectTimeout 15\n  ServerAliveInterval 10\n"
                      f"  ServerAliveCountMax 6\n")
        with open(self.config, "w") as fh:
            fh.write("\n".join(blocks))


def make_access(folder: str, tree: str) -> tuple[Access, str]:
    """A fresh key pair for this lab run; returns the Access and the public key to authorise."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(tree, "etc", "ssh", "ssh_host_ed25519_key.pub")) as fh:
        host_key = " ".join(fh.read().split()[:2])
    access = Access(folder, host_key)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hostmedic-lab", "-f", access.key])
    with open(access.key + ".pub") as fh:
        public = fh.read()
    access.write()
    return access, public


@dataclass
class SystemdGuest:
    name: str
    role: str
    access: Access
    cleanup: Cleanup
    console_log: str = ""
    overlay: str = ""

    def ssh(self, command: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        return run(["ssh", "-F", self.access.config, self.name, "--", command], timeout=timeout, check=check)

    def console(self) -> str:
        return read_text(self.console_log)

    def boots(self) -> int:
        return len(LINUX_VERSION.findall(self.console()))

    def wait_up(self, boots: int, timeout: float = BOOT_TIMEOUT) -> float:
        """Until the console shows boot number BOOTS and sshd answers; returns the seconds."""
        started = time.monotonic()
        wait_for(f"{self.name} to start boot {boots}", lambda: self.boots() >= boots, timeout)
        left = max(30.0, timeout - (time.monotonic() - started))
        # sshd answers, and systemd has finished starting up (running or degraded)
        wait_for(f"{self.name}'s sshd", lambda: self.ssh("systemctl is-system-running --wait >/dev/null; true",
                                                        timeout=60, check=False).returncode == 0, left, step=3)
        return time.monotonic() - started

    def kernel_log(self) -> str:
        return self.ssh("dmesg", timeout=60).stdout

    def wait_kernel(self, pattern: str, timeout: float = 240) -> re.Match:
        rx = re.compile(pattern, re.M)
        return wait_for(f"{self.name}'s kernel log to show /{pattern}/",
                        lambda: rx.search(self.kernel_log()), timeout, step=3)

    def reboot(self) -> float:
        """`systemctl reboot` in the guest; returns when the command was given (monotonic)."""
        self.ssh("systemd-run --on-active=1 --timer-property=AccuracySec=100ms systemctl reboot", timeout=60)
        return time.monotonic() + 1.0

    def wait_next_boot(self, boots_before: int, since: float, timeout: float = 900) -> float:
        """Seconds from SINCE until the console shows the next boot's kernel."""
        wait_for(f"{self.name} to come back from the reboot", lambda: self.boots() > boots_before, timeout, step=0.5)
        return time.monotonic() - since


def domain_xml(name: str, image: dict, overlay: str, console_log: str, role: str, ssh_port: int,
               link: tuple[int, int] | None) -> str:
    """Direct boot of the image's kernel with root=/dev/vda; sshd forwarded on 127.0.0.1."""
    cmdline = f"root=/dev/vda rw console=ttyS0 systemd.hostname={name} hm_role={role}"
    devices = [
        "<emulator>/usr/bin/qemu-system-x86_64</emulator>",
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{overlay}'/>"
        "<target dev='vda' bus='virtio'/></disk>",
    ]
    if link:
        local, remote = link
        devices.append(f"<interface type='udp'><mac address='{LINK_MAC[role]}'/>"
                       f"<source address='127.0.0.1' port='{remote}'><local address='127.0.0.1' port='{local}'/>"
                       "</source><model type='virtio'/></interface>")
    devices += [f"<serial type='pty'><log file='{console_log}' append='off'/><target port='0'/></serial>",
                "<console type='pty'><target type='serial' port='0'/></console>",
                "<memballoon model='virtio'/>"]
    args = ["-netdev", f"user,id=hmuser,hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
            "-device", f"virtio-net-pci,netdev=hmuser,mac={USER_MAC},addr=0x1f"]
    return lab_guest.domain(name, image["kernel"], image["initrd"], cmdline, devices, MEMORY_MIB, qemu_args=args)


def prepare(sc: dict, workdir: str, image: dict, access: Access, cleanup: Cleanup) -> list[SystemdGuest]:
    roles = sc["guests"]
    ports = {role: (free_port(), free_port()) for role in roles} if len(roles) > 1 else {}
    guests = []
    for role in roles:
        name = f"hm-lab-{sc['name']}-{role.split('-')[-1]}"[:40]
        g = SystemdGuest(name, role, access, cleanup)
        g.console_log = f"{QEMU_LOG_DIR}/{name}-serial0.log"
        g.overlay = os.path.join(workdir, f"{name}.qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image["image"], g.overlay])
        os.chmod(g.overlay, 0o644)
        link = None
        if ports:  # the server's local port is the client's remote one and the other way round
            other = next(r for r in roles if r != role)
            link = (ports[role][0], ports[other][0])
        access.ports[name] = free_port()
        xml = domain_xml(name, image, g.overlay, g.console_log, role, access.ports[name], link)
        path = os.path.join(workdir, f"{name}.xml")
        with open(path, "w") as fh:
            fh.write(xml)
        define_domain(cleanup, path, name)
        guests.append(g)
    access.write()
    return guests


# -- what a scenario sets up in the guest ----------------------------------------------

def setup_nfs_mount(g: SystemdGuest, args: dict) -> str:
    options = args.get("nfs_options", "hard,timeo=50,retrans=2")
    fstype = args.get("nfs_type", "nfs4")
    line = f"{SERVER_IP}:/srv/nfs /mnt/nfs {fstype} {options} 0 0"
    g.ssh(f"echo {shlex.quote(line)} >> /etc/fstab && systemctl daemon-reload && mount /mnt/nfs "
          "&& findmnt -n -o SOURCE,FSTYPE,OPTIONS /mnt/nfs", timeout=180)
    return line


STUCK_UNIT = """[Unit]
Description=hostmedic lab: a service whose stop hangs

[Service]
ExecStart=/bin/sleep infinity
# the stop command never returns: systemd waits TimeoutStopSec, then kills
ExecStop=/bin/sleep 100000
{extra}
[Install]
WantedBy=multi-user.target
"""


def setup_stuck_service(g: SystemdGuest, args: dict) -> str:
    extra = f"TimeoutStopSec={args['stop_timeout']}\n" if args.get("stop_timeout") else ""
    text = STUCK_UNIT.format(extra=extra)
    g.ssh(f"printf %s {shlex.quote(text)} > /etc/systemd/system/hm-stuck.service && systemctl daemon-reload "
          "&& systemctl enable --now hm-stuck.service && systemctl is-active hm-stuck.service")
    return "hm-stuck.service " + ("TimeoutStopSec=" + str(args["stop_timeout"]) if extra else "(default stop timeout)")


SETUPS = {"nfs-mount": setup_nfs_mount, "stuck-service": setup_stuck_service}


# -- faults: each ends with the guest up again in a new boot -------------------------

@dataclass
class Fault:
    what: str
    shutdown_seconds: float | None = None  # from `systemctl reboot` to the next kernel


def _reboot_and_wait(g: SystemdGuest, on_down=None) -> float:
    boots = g.boots()
    since = g.reboot()
    seconds = g.wait_next_boot(boots, since)
    if on_down:
        on_down()
    g.wait_up(boots + 1)
    return seconds


def nfs_writers_hang(guests: list[SystemdGuest], args: dict) -> Fault:
    """Writers on the hard mount block in NFS code while the server is suspended; the server
    comes back, the writes finish, and the guest reboots cleanly."""
    server, client = guests
    # the writer opens its file while the server answers, then waits for the go
    client.ssh("rm -f /run/hm-go /run/hm-opened; systemd-run --unit=hm-writer sh -c 'exec 3>>/mnt/nfs/hm-data; "
               "touch /run/hm-opened; while [ ! -e /run/hm-go ]; do sleep 0.2; done; "
               "dd if=/dev/zero bs=1M count=4 status=none >&3'")
    # opening needs the server: suspended before that, the open waits killably and no
    # task would be reported as blocked
    wait_for("the writer to open its file", lambda: client.ssh("test -e /run/hm-opened", check=False).returncode == 0,
             60, step=1)
    virsh("suspend", server.name)
    client.ssh("touch /run/hm-go; systemd-run --unit=hm-sync sync")
    nr = client.wait_kernel(rf"nfs: server {re.escape(SERVER_IP)} not responding")
    ht = client.wait_kernel(r"INFO: task (\S+):\d+ blocked for more than \d+ seconds", timeout=300)
    started = time.monotonic()
    during = hang_seen_live(client)
    held = float(args.get("hold_seconds", 30))
    time.sleep(max(0.0, held - (time.monotonic() - started)))
    virsh("resume", server.name)
    client.wait_kernel(rf"nfs: server {re.escape(SERVER_IP)} OK", timeout=300)
    busy = {"active", "activating", "deactivating"}
    wait_for("the writers to finish", lambda: not busy & set(client.ssh(
        "systemctl is-active hm-writer hm-sync", check=False).stdout.split()), 300, step=3)
    seconds = _reboot_and_wait(client)
    return Fault(f"{nr[0]}; {ht[0]}; {during}; server resumed after {held:.0f} s more; clean reboot", seconds)


def hang_seen_live(g: SystemdGuest) -> str:
    """`diagnose --host` while the writers still hang: the NFS finding must lead and name
    the tasks it saw waiting in NFS code (state D at both of its looks). Commands that
    touch the dead mount (df) run into their timeout, which is kept short here."""
    started = time.monotonic()
    code, report = lab_diagnose.diagnose_json(["--host", g.name, "--ssh-config", g.access.config,
                                               "--timeout", "20"], timeout=600)
    lead = next((f for f in report.get("findings") or [] if f["severity"] in SERIOUS), None)
    if lead is None or lead["rule"] != "nfs-mount-hang" or "when the data was taken" not in lead["explanation"]:
        raise LabError("diagnose --host during the hang did not show the tasks waiting in NFS code: "
                       + (f"{lead['rule']}: {lead['explanation'][:400]}" if lead else "no finding"))
    stuck = [s.get("what") or s["collector"] for s in report.get("collector_status") or []
             if s.get("status") == "timeout"]
    return (f"diagnose --host during the hang: {lead['rule']} in {time.monotonic() - started:.0f} s"
            + (f" (timed out on the dead mount: {', '.join(stuck)})" if stuck else ""))


def nfs_server_gone_reboot(guests: list[SystemdGuest], args: dict) -> Fault:
    """The server is suspended with the mount idle; the client reboots and the unmount
    blocks. The server returns once the client is back in its firmware."""
    server, client = guests
    virsh("suspend", server.name)
    seconds = _reboot_and_wait(client, on_down=lambda: virsh("resume", server.name))
    return Fault(f"server suspended, client rebooted; shutdown took {seconds:.0f} s", seconds)


def nfs_blip(guests: list[SystemdGuest], args: dict) -> Fault:
    """The link to the server drops while a reader polls the mount, then comes back."""
    server, client = guests
    client.ssh("systemd-run --unit=hm-reader sh -c 'while :; do ls -l /mnt/nfs >/dev/null; sleep 2; done'")
    virsh("domif-setlink", server.name, LINK_MAC["nfs-server"], "down")
    try:
        nr = client.wait_kernel(rf"nfs: server {re.escape(SERVER_IP)} not responding")
    finally:
        virsh("domif-setlink", server.name, LINK_MAC["nfs-server"], "up")
    ok = client.wait_kernel(rf"nfs: server {re.escape(SERVER_IP)} OK", timeout=300)
    client.ssh("systemctl stop hm-reader", timeout=120)
    seconds = _reboot_and_wait(client)
    return Fault(f"{nr[0]}; {ok[0]}; clean reboot", seconds)


def reboot(guests: list[SystemdGuest], args: dict) -> Fault:
    g = guests[-1]
    seconds = _reboot_and_wait(g)
    return Fault(f"reboot took {seconds:.0f} s", seconds)


def destroy_during_shutdown(guests: list[SystemdGuest], args: dict) -> Fault:
    """Reboot, and cut the guest off (virsh destroy) while its shutdown hangs."""
    g = guests[-1]
    after = float(args.get("destroy_after", 75))
    g.reboot()
    boots = g.boots()
    time.sleep(after)
    if g.boots() != boots:
        raise LabError(f"{g.name} finished its shutdown within {after:.0f} s: nothing hung")
    virsh("destroy", g.name)
    virsh("start", g.name)
    g.wait_up(1)  # a new QEMU process: the console log starts again (append='off')
    return Fault(f"destroyed {after:.0f} s into the shutdown, started again")


FAULTS = {"nfs-writers-hang": nfs_writers_hang, "nfs-server-gone-reboot": nfs_server_gone_reboot,
          "nfs-blip": nfs_blip, "reboot": reboot, "destroy-during-shutdown": destroy_during_shutdown}


# -- reading the diagnosis four ways -------------------------------------------------

def wait_hook(g: SystemdGuest) -> dict:
    """The report the post-reboot hook wrote in this boot, once its run has ended."""
    def ended() -> bool:
        out = g.ssh("systemctl show -p ExecMainExitTimestampMonotonic -p ActiveState hostmedic-postboot.service",
                    check=False, timeout=60).stdout
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return props.get("ActiveState") in ("inactive", "failed") and props.get("ExecMainExitTimestampMonotonic", "0") != "0"
    wait_for(f"the post-reboot hook in {g.name}", ended, HOOK_TIMEOUT, step=5)
    newest = g.ssh("ls -1t /var/lib/hostmedic/reports/*.json | head -n1", timeout=60).stdout.strip()
    if not newest:
        raise LabError(f"the hook in {g.name} ran but wrote no report: "
                       + g.ssh("journalctl -b -u hostmedic-postboot.service --no-pager | tail -n 20", check=False).stdout)
    return json.loads(g.ssh(f"cat {shlex.quote(newest)}", timeout=60).stdout)


def _diagnose(args: list[str]) -> tuple[int, dict]:
    return lab_diagnose.diagnose_json(args, timeout=600)


def over_ssh(g: SystemdGuest) -> tuple[int, dict]:
    # the guest is emulated: give each command there the time it needs
    return _diagnose(["--host", g.name, "--ssh-config", g.access.config, "--timeout", "120"])


def from_journal(g: SystemdGuest, folder: str) -> tuple[int, dict]:
    """The guest's journal files, copied to the host as they are on its disk."""
    os.makedirs(folder, exist_ok=True)
    archive = os.path.join(folder, "journal.tar")
    with open(archive, "wb") as out:
        done = subprocess.run(["ssh", "-F", g.access.config, g.name, "--", # the live journal changes while it is read (tar exit 1): journalctl copes with that
                               "tar --warning=no-file-changed -C /var/log/journal -cf - . || [ $? -eq 1 ]"],
                              stdout=out, stderr=subprocess.PIPE, timeout=300)
    if done.returncode != 0:
        raise LabError(f"copying {g.name}'s journal: {done.stderr.decode(errors='replace').strip()}")
    journal = os.path.join(folder, "journal")
    with tarfile.open(archive) as tar:
        tar.extractall(journal, filter="data")
    os.unlink(archive)
    return _diagnose(["--journal-dir", journal])


def sosreport(g: SystemdGuest, folder: str) -> tuple[int, dict]:
    """A real `sos report` made in the guest (Debian's sosreport), copied out."""
    os.makedirs(folder, exist_ok=True)
    g.ssh(f"rm -rf /var/tmp/hm-sos && mkdir -p /var/tmp/hm-sos && sos report --batch --tmp-dir /var/tmp/hm-sos "
          f"-o {GUEST_SOS_PLUGINS}", timeout=900)
    name = g.ssh("ls /var/tmp/hm-sos/ | grep -E '^sosreport-.*\\.tar\\.(xz|gz|bz2)$' || true", timeout=60).stdout.split()
    if len(name) != 1:
        raise LabError(f"sos report in {g.name} left {name}")
    local = os.path.join(folder, name[0])
    with open(local, "wb") as out:
        subprocess.run(["ssh", "-F", g.access.config, g.name, "--", f"cat /var/tmp/hm-sos/{name[0]}"],
                       stdout=out, check=True, timeout=300)
    return _diagnose(["--sosreport", local])


def all_findings(report: dict) -> list[dict]:
    """Leading findings and those grouped under them."""
    out = []
    stack = list(report.get("findings") or [])
    while stack:
        f = stack.pop(0)
        out.append(f)
        stack[:0] = f.get("explains") or []
    return out


def judge(way: Way, report: dict, expect: dict) -> None:
    way.report = report
    leading = [f for f in report.get("findings") or [] if f["severity"] in SERIOUS]
    everything = [f for f in all_findings(report) if f["severity"] in SERIOUS]
    way.serious = [f["rule"] for f in everything]
    wanted = {expect.get("rule"), *(expect.get("also") or []), *(expect.get("grouped") or [])} - {None}
    way.foreign = [f"{f['rule']}: {f['summary']}" for f in everything if f["rule"] not in wanted]
    if leading:
        way.leading = leading[0]["rule"]
    for rule in expect.get("also") or []:
        if rule not in way.serious:
            way.missing.append(f"a {rule} finding")
    for rule in expect.get("grouped") or []:  # must sit under the leading finding, not beside it
        if any(f["rule"] == rule for f in leading):
            way.wrong.append(f"{rule} beside {way.leading} instead of under it")
    if leading:
        text = json.dumps([f for f in everything if f["rule"] in wanted])
        for name in expect.get("names") or []:
            if name not in text and json.dumps(name)[1:-1] not in text:
                way.missing.append(name)
        for name in expect.get("absent") or []:
            if name in way.serious:
                way.wrong.append(f"a {name} finding")


def diagnose_ways(sc: dict, g: SystemdGuest, folder: str, hook_report: dict) -> list[Way]:
    calls = [("hook", lambda: (None, hook_report)), ("host", lambda: over_ssh(g)),
             ("journal", lambda: from_journal(g, os.path.join(folder, "journal")))]
    if sc.get("sos"):
        calls.append(("sos", lambda: sosreport(g, os.path.join(folder, "sos"))))
    out = []
    for name, call in calls:
        way = Way(name)
        started = time.monotonic()
        try:
            way.exit, report = call()
            judge(way, report, expected(sc["expect"], name))
        except LabError as err:
            way.error = str(err)
        except (OSError, subprocess.SubprocessError, ValueError, tarfile.TarError) as err:
            way.error = f"{type(err).__name__}: {err}"
        way.seconds = time.monotonic() - started
        out.append(way)
    return out


def expected(expect: dict, way: str) -> dict:
    """What one way must show: the scenario's expectation with that way's exceptions
    (`by_way`: a journal copy has no mount table, for instance) laid over it."""
    out = {k: v for k, v in expect.items() if k != "by_way"}
    out.update((expect.get("by_way") or {}).get(way) or {})
    return out


def problems(ways: list[Way], expect: dict) -> list[str]:
    # the ways with no exception of their own must agree exactly
    return lab_diagnose.problems(ways, expect, lambda way: expected(expect, way),
                                 exempt=set(expect.get("by_way") or {}))


# -- fixes, applied in the guest ---------------------------------------------------------

def apply_fix(g: SystemdGuest, fix: dict) -> str:
    argv = ["diagnose", "fix", fix["id"], *[str(a) for a in fix.get("args") or []], "--apply", "--yes"]
    done = g.ssh(" ".join(shlex.quote(a) for a in argv), timeout=600, check=False)
    if done.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` in {g.name} exited {done.returncode}: "
                       f"{(done.stdout + done.stderr).strip()[-800:]}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "applied"


# -- one scenario's steps, as run_lab drives them ------------------------------------------

def boot_all(guests: list[SystemdGuest]) -> None:
    for g in guests:
        virsh("start", g.name)
    for g in guests:
        g.wait_up(1)


def set_up(sc: dict, guests: list[SystemdGuest]) -> list[str]:
    """The hook installed as a user would, then what the scenario needs in the guest."""
    target = guests[-1]
    notes = [target.ssh("diagnose hook install", timeout=300).stdout.strip().splitlines()[-1]]
    for name in sc.get("setup") or []:
        notes.append(SETUPS[name](target, sc.get("setup_args") or {}))
    return notes


def inflict(sc: dict, guests: list[SystemdGuest]) -> Fault:
    started = time.monotonic()
    fault = FAULTS[sc["fault"]](guests, sc.get("fault_args") or {})
    log(f"{guests[-1].name}: {sc['fault']}: {fault.what} ({time.monotonic() - started:.0f} s)")
    return fault
