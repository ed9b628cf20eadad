"""Who the host is: name, kernel, and whether it is a virtual machine (guest) or not."""
from __future__ import annotations

from hostmedic.engine.facts import Provenance

NAME = "host"


def collect(ctx) -> None:
    fields = {}
    name = ctx.source.run(["hostname"], sos_paths=["sos_commands/host/hostname", "hostname"])
    tried = []  # why the host name is unknown, when it is: said in the report
    if not name.ok:
        tried.append(f"{name.name}: {name.status}" + (f" ({name.detail})" if name.detail else ""))
        name = ctx.source.read("/etc/hostname")
        if not name.ok:
            tried.append(f"{name.name}: {name.status}" + (f" ({name.detail})" if name.detail else ""))
    if name.ok and name.text.strip():
        fields["hostname"] = name.text.strip().splitlines()[0]
    uname = ctx.source.run(["uname", "-a"], sos_paths=["sos_commands/kernel/uname_-a", "uname"])
    if uname.ok and uname.text.strip():
        fields["uname"] = uname.text.strip()
        parts = uname.text.split()
        if len(parts) > 2:
            fields["kernel"] = parts[2]
    if ctx.source.live:  # sos never runs systemd-detect-virt
        virt = ctx.source.run(["systemd-detect-virt"])
        if virt.text.strip():  # exits 1 and prints "none" on bare metal
            fields["virt"] = virt.text.strip().splitlines()[0]
    for dmi_field in ("sys_vendor", "product_name"):  # sos's hardware plugin copies these
        dmi = ctx.source.read(f"/sys/class/dmi/id/{dmi_field}")
        if dmi.ok and dmi.text.strip():
            fields[dmi_field] = dmi.text.strip()
    ctx.add("host", fields, Provenance("command", name.name if name.ok else "hostname"))
    ctx.status(NAME, "ok" if fields.get("hostname") else "absent",
               detail=", ".join([f"{k}={v}" for k, v in fields.items() if k != "uname"]
                                + ([] if fields.get("hostname") else tried)),
               hint="" if fields.get("hostname") else "the host name is unknown")
