"""Memory now, and whether the virtio balloon driver is in this (guest) kernel.

A balloon that the host inflated takes pages away from the guest: MemTotal drops
(unless the device offers deflate-on-oom). Rules compare MemTotal with the memory
the kernel found at boot to see how much the balloon holds.
"""
from __future__ import annotations

import re

from hostmedic.engine.facts import Provenance

NAME = "memory"
_MEMINFO = re.compile(r"^(?P<key>[\w()]+):\s+(?P<value>\d{1,30})(?: kB)?$")


def collect(ctx) -> None:
    meminfo = ctx.source.read("/proc/meminfo", sos_paths=["proc/meminfo"])
    if meminfo.ok:
        values = {}
        for line in meminfo.lines():
            m = _MEMINFO.match(line.strip())
            if m:
                values[m["key"]] = int(m["value"])
        fields = {"mem_total_kib": values.get("MemTotal"), "mem_available_kib": values.get("MemAvailable"),
                  "swap_total_kib": values.get("SwapTotal"), "swap_free_kib": values.get("SwapFree")}
        fields = {k: v for k, v in fields.items() if v is not None}
        fields["text"] = f"{meminfo.name}: MemTotal {values.get('MemTotal')} kB"
        ctx.add("meminfo", fields, Provenance("file", meminfo.name))
    ctx.status(NAME, meminfo, hint="" if meminfo.ok else "memory facts are missing",
               detail="" if not meminfo.ok else "read", name=meminfo.name)
    _balloon(ctx)
    if ctx.source.kind == "local":
        _psutil(ctx)


def _balloon(ctx) -> None:
    """Is virtio_balloon loaded (module list) or registered (sysfs driver folder)?"""
    modules = ctx.source.read("/proc/modules", sos_paths=["proc/modules"])
    if not modules.ok:
        modules = ctx.source.run(["lsmod"], sos_paths=["sos_commands/kernel/lsmod"])
    driver_dir = ctx.source.listdir("/sys/bus/virtio/drivers/virtio_balloon")
    loaded = bool(modules.ok and re.search(r"^virtio_balloon\s", modules.text, re.M))
    if loaded or driver_dir:
        where = modules.name if loaded else "/sys/bus/virtio/drivers/virtio_balloon"
        devices = [d for d in driver_dir if d.startswith("virtio")]
        ctx.add("balloon_driver", {"loaded": True, "devices": len(devices),
                                   "text": f"virtio_balloon is loaded ({where})"},
                Provenance("file" if loaded else "file", where))
    elif not modules.ok:
        ctx.status(NAME, modules, hint="cannot tell whether the virtio balloon driver is loaded")


def _psutil(ctx) -> None:
    try:
        import psutil
    except ImportError:
        ctx.status(NAME, "missing", detail="psutil is not installed", hint="pip install psutil")
        return
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    ctx.add("memory_now", {"total_kib": vm.total // 1024, "available_kib": vm.available // 1024,
                           "used_percent": vm.percent, "swap_used_kib": sw.used // 1024,
                           "swap_in_kib": sw.sin // 1024, "swap_out_kib": sw.sout // 1024,
                           "text": f"memory {vm.percent}% used, swap {sw.percent}% used (psutil)"},
            Provenance("api", "psutil.virtual_memory(), psutil.swap_memory()"))
