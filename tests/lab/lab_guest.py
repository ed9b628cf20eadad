"""The lab's tiny guest: Debian's kernel and a busybox initramfs, and its libvirt domain XML.

The kernel comes from Debian's linux-image package without installing it: `apt-get
download`, `dpkg-deb -x`, `depmod -b`. The initramfs holds static busybox, the modules
the guest needs (in the order `modprobe --show-depends` gives) and guest-init.sh as /init.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
INIT_SCRIPT = os.path.join(HERE, "guest-init.sh")
BUSYBOX = "/bin/busybox"
# virtio devices, ext4 for the read-only scenario, and the ACPI button (the power button
# the guest ignores: nothing in it handles the event).
MODULES = ["virtio_pci", "virtio_balloon", "virtio_blk", "virtio_console", "ext4", "button",
           "evdev"]
UPTIME_LINE = re.compile(r"^hm: up (?P<up>\d+(?:\.\d+)?)\s*$")
LINUX_VERSION = re.compile(r"^\[\s*\d+\.\d+\] Linux version ")


def run(argv, **kw) -> str:
    kw.setdefault("timeout", 300)
    done = subprocess.run(argv, check=True, capture_output=True, text=True, **kw)
    return done.stdout


def kernel_package() -> str:
    """The linux-image-6.1.0-NN-amd64 package Debian's linux-image-amd64 points at now."""
    out = run(["apt-cache", "depends", "linux-image-amd64"])
    m = re.search(r"Depends: (linux-image-[\w.+-]+-amd64)", out)
    if not m:
        raise RuntimeError(f"no linux-image-*-amd64 dependency in: {out.strip()}")
    return m[1]


def fetch_kernel(workdir: str) -> tuple[str, str, str]:
    """(kernel release, vmlinuz path, module root) unpacked under WORKDIR/kernel."""
    pkg = kernel_package()
    debdir = os.path.join(workdir, "deb")
    os.makedirs(debdir, exist_ok=True)
    run(["apt-get", "download", "-q", pkg], cwd=debdir)
    deb = next(os.path.join(debdir, f) for f in os.listdir(debdir) if f.endswith(".deb"))
    root = os.path.join(workdir, "kernel")
    run(["dpkg-deb", "-x", deb, root])
    os.unlink(deb)
    release = pkg[len("linux-image-"):]
    run(["depmod", "-b", root, release])
    return release, os.path.join(root, "boot", f"vmlinuz-{release}"), root


def module_files(root: str, release: str) -> list[str]:
    """Module paths relative to lib/modules/RELEASE, dependencies first, each once."""
    base = os.path.join(root, "lib", "modules", release) + "/"
    order: list[str] = []
    for mod in MODULES:
        out = run(["modprobe", "-d", root, "-S", release, "--show-depends", mod])
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "insmod" and parts[1].startswith(base):
                rel = parts[1][len(base):]
                if rel not in order:
                    order.append(rel)
    return order


def build_initramfs(workdir: str, root: str, release: str) -> str:
    tree = os.path.join(workdir, "initramfs")
    for d in ("bin", "dev", "proc", "sys", "mnt", "etc", "lib/modules"):
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(tree, "bin", "busybox"))
    os.symlink("busybox", os.path.join(tree, "bin", "sh"))  # for /init's #!/bin/sh
    shutil.copy2(INIT_SCRIPT, os.path.join(tree, "init"))
    os.chmod(os.path.join(tree, "init"), 0o755)
    mods = module_files(root, release)
    src = os.path.join(root, "lib", "modules", release)
    for rel in mods:
        dest = os.path.join(tree, "lib", "modules", rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(src, rel), dest)
    with open(os.path.join(tree, "etc", "modules.order"), "w") as fh:
        fh.write("".join(m + "\n" for m in mods))
    names = []
    for here, dirs, files in os.walk(tree):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            names.append(os.path.relpath(os.path.join(here, name), tree))
    image = os.path.join(workdir, "initrd.cpio")
    with open(image, "wb") as out:
        subprocess.run([BUSYBOX, "cpio", "-o", "-H", "newc"], input="\n".join(names).encode() + b"\n",
                       stdout=out, stderr=subprocess.DEVNULL, cwd=tree, check=True, timeout=120)
    shutil.rmtree(tree)
    return image


def build(workdir: str) -> dict[str, str]:
    """Kernel and initramfs for every lab guest; about 5 s."""
    release, vmlinuz, root = fetch_kernel(workdir)
    initrd = build_initramfs(workdir, root, release)
    kernel = os.path.join(workdir, "vmlinuz")
    shutil.copy2(vmlinuz, kernel)
    shutil.rmtree(root)  # 400 MB of modules: only the initramfs' few are kept
    for path in (kernel, initrd):
        os.chmod(path, 0o644)
    return {"release": release, "kernel": kernel, "initrd": initrd}


def domain_xml(name: str, kernel: str, initrd: str, console_log: str, *, memory_mib: int = 256,
               cmdline: dict[str, object] | None = None, disk: dict | None = None,
               agent_channel: bool = False) -> str:
    """A persistent definition: direct kernel boot, emulated (type='qemu': no nested KVM here),
    a serial console logged to CONSOLE_LOG, a virtio balloon, optionally a qcow2 disk and the
    guest agent channel."""
    words = ["console=ttyS0"] + [f"{k}={v}" for k, v in (cmdline or {}).items()]
    devices = ["<emulator>/usr/bin/qemu-system-x86_64</emulator>"]
    if disk:
        attrs = {"name": "qemu", "type": disk.get("format", "qcow2"), **disk.get("driver", {})}
        driver = "".join(f" {k}={quoteattr(str(v))}" for k, v in attrs.items())
        devices.append(f"<disk type='file' device='disk'><driver{driver}/>"
                       f"<source file={quoteattr(disk['path'])}/><target dev='vda' bus='virtio'/></disk>")
    devices.append(f"<serial type='pty'><log file={quoteattr(console_log)} append='off'/>"
                   "<target port='0'/></serial>")
    devices.append("<console type='pty'><target type='serial' port='0'/></console>")
    if agent_channel:
        devices.append("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>")
    devices.append("<memballoon model='virtio'/>")
    return domain(name, kernel, initrd, " ".join(words), devices, memory_mib)


def domain(name: str, kernel: str, initrd: str, cmdline: str, devices: list[str], memory_mib: int,
           qemu_args: list[str] = ()) -> str:
    """The lab's domain: emulated (type='qemu': no nested KVM here), direct kernel boot, ACPI,
    restarted on reboot; QEMU_ARGS go to QEMU as they are (<qemu:commandline>)."""
    ns = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" if qemu_args else ""
    extra = ("\n  <qemu:commandline>" + "".join(f"<qemu:arg value={quoteattr(a)}/>" for a in qemu_args)
             + "</qemu:commandline>") if qemu_args else ""
    return f"""<domain type='qemu'{ns}>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <currentMemory unit='MiB'>{memory_mib}</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(kernel)}</kernel>
    <initrd>{escape(initrd)}</initrd>
    <cmdline>{escape(cmdline)}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
{chr(10).join('    ' + d for d in devices)}
  </devices>{extra}
</domain>
"""


def uptimes(console_text: str) -> list[tuple[int, float]]:
    """(boot number in the log, uptime) of each heartbeat line: boot 0 is the first."""
    boot, out = -1, []
    for line in console_text.replace("\r", "").splitlines():
        if LINUX_VERSION.match(line):
            boot += 1
        m = UPTIME_LINE.match(line)
        if m:
            out.append((max(boot, 0), float(m["up"])))
    return out
