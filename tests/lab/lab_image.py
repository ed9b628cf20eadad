"""The lab's systemd guest: a minimal Debian 12 image with hostmedic installed, built by
mmdebstrap with no mount and no network inside the guest.

Two layers:
  base  (cached under CACHE_ROOT, rebuilt when its recipe changes: the package list, the
        files in guest-root/, the hooks below, hostmedic's dependencies, the Python ABI)
        Debian minbase + systemd, udev, dbus, the kernel, NFS, sshd, sosreport, Python 3
        and a venv at /opt/hostmedic holding hostmedic's dependencies, installed from
        wheels built on this host (the guest reaches no package registry).
  run   (every lab run) the hostmedic wheel of this checkout installed into that venv,
        the lab's SSH key authorised, then `mkfs.ext4 -d` makes the disk image (no mount).
Every guest boots a qcow2 overlay on that one image, with the image's own kernel and
initramfs (direct kernel boot, root=/dev/vda).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sys
import time

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

from lab_host import LabError, log, run

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GUEST_ROOT = os.path.join(HERE, "guest-root")
CACHE_ROOT = "/var/cache/hostmedic-lab"
SUITE = "bookworm"
VENV = "/opt/hostmedic"
IMAGE_MIB = 2048

PACKAGES = ["systemd-sysv", "udev", "dbus", "linux-image-amd64", "initramfs-tools", "kmod",
            "e2fsprogs", "iproute2", "procps", "nfs-common", "nfs-kernel-server", "openssh-server",
            "python3", "python3-venv", "libvirt0", "sosreport", "xz-utils"]
# What no lab guest reads: docs, man pages, translations, and kernel drivers for hardware
# an emulated PC does not have (about half the kernel's size).
EXCLUDES = ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
            "/usr/share/lintian/*"] + [
    f"{lib}/modules/*/kernel/{d}/*" for lib in ("/lib", "/usr/lib")
    for d in ("drivers/gpu", "drivers/net/wireless", "drivers/net/ethernet", "drivers/media",
              "drivers/infiniband", "drivers/staging", "drivers/bluetooth", "drivers/iio",
              "drivers/hid", "drivers/usb", "drivers/isdn", "sound")]
INITRAMFS_MODULES = ["virtio_pci", "virtio_blk", "ext4"]
SETUP_HOOK = 'mkdir -p "$1/etc/initramfs-tools/conf.d" && echo MODULES=list > "$1/etc/initramfs-tools/conf.d/lab.conf"'
CUSTOMIZE_HOOKS = [
    'cp -a "$HM_GUEST_ROOT/." "$1/"',
    f'printf "%s\\n" {" ".join(INITRAMFS_MODULES)} >> "$1/etc/initramfs-tools/modules"',
    'chroot "$1" update-initramfs -u -k all',
    'mkdir -p "$1/var/log/journal" "$1/srv/nfs" "$1/mnt/nfs" "$1/root/.ssh"',
    'chmod 700 "$1/root/.ssh"',
    'chroot "$1" systemctl enable systemd-networkd.service ssh.service',
    # one image for every guest: each makes its own machine id at first boot
    'echo uninitialized > "$1/etc/machine-id"; rm -f "$1/var/lib/dbus/machine-id"',
    f'chroot "$1" python3 -m venv {VENV}',
    'cp -a "$HM_WHEELS" "$1/tmp/wheels"',
    f'chroot "$1" {VENV}/bin/pip install -q --no-index --find-links /tmp/wheels -r /tmp/wheels/requirements.txt',
    'rm -rf "$1/tmp/wheels"',
    f'ln -s {VENV}/bin/diagnose "$1/usr/local/bin/diagnose"',
]


def dependencies() -> list[str]:
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def recipe_key() -> str:
    """Changes whenever anything the base image is made from changes."""
    files = {}
    for path in sorted(glob.glob(os.path.join(GUEST_ROOT, "**"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                files[os.path.relpath(path, GUEST_ROOT)] = hashlib.sha256(fh.read()).hexdigest()
    recipe = {"suite": SUITE, "packages": PACKAGES, "excludes": EXCLUDES, "setup": SETUP_HOOK,
              "customize": CUSTOMIZE_HOOKS, "files": files, "deps": dependencies(),
              "python": f"cp{sys.version_info.major}{sys.version_info.minor}"}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def _guest_python() -> str:
    return "cp311"  # Debian 12's python3 is 3.11: wheels built here must be for 3.11


def build_wheels(folder: str, hostmedic_only: bool = False) -> list[str]:
    """Wheels of hostmedic's dependencies (and/or hostmedic itself), built by this host's pip."""
    os.makedirs(folder, exist_ok=True)
    if hostmedic_only:
        source = checkout_copy(os.path.join(folder, "src"))
        argv = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", folder, source]
    else:
        with open(os.path.join(folder, "requirements.txt"), "w") as fh:
            fh.write("".join(d + "\n" for d in dependencies()))
        argv = [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", folder,
                "-r", os.path.join(folder, "requirements.txt")]
    run(argv, timeout=900)
    return sorted(glob.glob(os.path.join(folder, "*.whl")))


def checkout_copy(dest: str) -> str:
    """The files of this checkout as they are now (tracked and new, not ignored) copied to
    DEST: setuptools would reuse a stale build/ folder of the checkout itself and ship
    modules that no longer exist."""
    if not os.path.isdir(os.path.join(REPO, ".git")) or not shutil.which("git"):
        # an export of the tree (no git): everything but what builds and runs leave behind
        shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"))
        return dest
    names = run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]).stdout
    for rel in filter(None, names.split("\0")):
        src = os.path.join(REPO, rel)
        if os.path.isfile(src):  # a file deleted but not yet staged is still listed
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel))
    return dest


def base_tree() -> tuple[str, float]:
    """The cached base tree (built now when missing or stale) and the seconds building took."""
    if f"cp{sys.version_info.major}{sys.version_info.minor}" != _guest_python():
        raise LabError(f"this host's Python is {sys.version.split()[0]}; the guest's wheels must be "
                       "built by Python 3.11, as Debian 12's python3 is")
    key = recipe_key()
    folder = os.path.join(CACHE_ROOT, f"guest-{key}")
    if os.path.exists(os.path.join(folder, "complete")):
        return os.path.join(folder, "tree"), 0.0
    started = time.monotonic()
    os.makedirs(CACHE_ROOT, exist_ok=True)
    for old in glob.glob(os.path.join(CACHE_ROOT, "guest-*")):
        log(f"guest image: removing {old} (recipe changed)")
        shutil.rmtree(old, ignore_errors=True)
    os.makedirs(folder)
    wheels = os.path.join(folder, "wheels")
    build_wheels(wheels)
    tree = os.path.join(folder, "tree")
    argv = ["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet",
            f"--include={','.join(PACKAGES)}",
            *[f"--dpkgopt=path-exclude={p}" for p in EXCLUDES],
            f"--setup-hook={SETUP_HOOK}",
            *[f"--customize-hook={h}" for h in CUSTOMIZE_HOOKS],
            SUITE, tree]
    sources = "/etc/apt/sources.list.d/debian.sources"
    if os.path.exists(sources):
        argv.append(sources)  # the host's mirror, as the host's apt uses it
    log(f"guest image: building {key} with mmdebstrap (about 2 minutes)")
    run(argv, timeout=1200, env={"HM_WHEELS": wheels, "HM_GUEST_ROOT": GUEST_ROOT})
    shutil.rmtree(wheels)
    open(os.path.join(folder, "complete"), "w").close()
    return tree, time.monotonic() - started


def kernel_files(tree: str) -> tuple[str, str]:
    kernels = sorted(glob.glob(os.path.join(tree, "boot", "vmlinuz-*")))
    initrds = sorted(glob.glob(os.path.join(tree, "boot", "initrd.img-*")))
    if not kernels or not initrds:
        raise LabError(f"no kernel or initramfs under {tree}/boot")
    return kernels[-1], initrds[-1]


def build(workdir: str, public_key: str) -> dict[str, object]:
    """This run's image: the base tree with this checkout's hostmedic and the lab's key.
    Returns the paths of the raw image, kernel and initramfs (readable by qemu) and timings."""
    tree, base_seconds = base_tree()
    started = time.monotonic()
    wheels = os.path.join(workdir, "wheels")
    wheel = build_wheels(wheels, hostmedic_only=True)
    if len(wheel) != 1:
        raise LabError(f"building hostmedic's wheel gave {wheel}")
    staged = os.path.join(tree, "tmp", os.path.basename(wheel[0]))
    shutil.copy2(wheel[0], staged)
    try:
        run(["chroot", tree, f"{VENV}/bin/pip", "install", "-q", "--no-index", "--no-deps",
             "--force-reinstall", f"/tmp/{os.path.basename(wheel[0])}"], timeout=300)
    finally:
        os.unlink(staged)
    shutil.rmtree(wheels)
    with open(os.path.join(tree, "root", ".ssh", "authorized_keys"), "w") as fh:
        fh.write(public_key)
    image = os.path.join(workdir, "guest.raw")
    with open(image, "wb") as fh:
        fh.truncate(IMAGE_MIB << 20)
    run(["mkfs.ext4", "-q", "-F", "-L", "lab-root", "-d", tree, image], timeout=300)
    kernel, initrd = kernel_files(tree)
    out = {"image": image, "kernel": os.path.join(workdir, "vmlinuz"),
           "initrd": os.path.join(workdir, "initrd.img")}
    shutil.copy2(kernel, out["kernel"])
    shutil.copy2(initrd, out["initrd"])
    for path in (image, out["kernel"], out["initrd"]):
        os.chmod(path, 0o644)
    out["release"] = os.path.basename(kernel)[len("vmlinuz-"):]
    out["base_seconds"] = base_seconds
    out["run_seconds"] = time.monotonic() - started
    return out
