"""Reading and editing a domain's persistent definition.

The definition is read with VIR_DOMAIN_XML_INACTIVE (what the next start gets, not the
running state) and VIR_DOMAIN_XML_SECURE (without it libvirt leaves out passwords such as
a VNC password, and defining that XML back would drop them). Namespace prefixes in
<metadata> are kept as they were.
"""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

AGENT_CHANNEL = "org.qemu.guest_agent.0"
EFFECT = ("at the domain's next start from shut off (a reboot from inside the "
          "guest keeps the running QEMU and its old settings); the running domain is not touched")


def inactive_xml(dom) -> str:
    import libvirt
    return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)


def parse(text: str) -> ET.Element:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("a DOCTYPE is not expected in libvirt XML")
    for _, (prefix, uri) in ET.iterparse(io.StringIO(text), events=("start-ns",)):
        if prefix:
            ET.register_namespace(prefix, uri)
    return ET.fromstring(text)


def serialize(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode") + "\n"


def disks(root: ET.Element) -> list[ET.Element]:
    """The domain's disks (device='disk', not cdroms or floppies)."""
    return [d for d in root.findall("./devices/disk") if d.get("device", "disk") == "disk"]


def disk_target(disk: ET.Element) -> str:
    target = disk.find("target")
    return target.get("dev", "") if target is not None else ""


def disk_source(disk: ET.Element) -> str:
    source = disk.find("source")
    if source is None:
        return ""
    return source.get("file") or source.get("dev") or ""


def has_agent_channel(root: ET.Element) -> bool:
    return any(ch.find("target") is not None and ch.find("target").get("name") == AGENT_CHANNEL
               for ch in root.findall("./devices/channel"))
