"""Network interfaces: state and error counters of each link, and the driver behind it.

Fact
    nic   name, driver, operstate, carrier_changes, rx_errors, tx_errors, rx_dropped,
          tx_dropped, tx_timeout (where reported), kind (veth, bridge, ... for virtual
          links), text

Where from
    live        `ip -j -s -s -d link` (iproute2 >= 4.13 prints JSON; -s -s adds
                carrier_changes), else `ip -s -d link`; the driver from
                /sys/class/net/NAME/device/uevent (DRIVER=) or `ethtool -i NAME`;
                carrier_changes and the transmit queues' tx_timeout counts from sysfs
    sosreport   sos's networking plugin: sos_commands/networking/ip_-s_-d_link and
                ethtool_-i_NAME
`ip -s -d link` text, old and new iproute2 column names::

    2: ens3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT ...
        link/ether 52:54:00:e2:28:a3 brd ff:ff:ff:ff:ff:ff promiscuity 1 minmtu 68 maxmtu 65535
        RX: bytes  packets  errors  dropped overrun mcast        (iproute2 < 5.10: overrun)
        23781208158 25929812 0       0       0       0
        TX: bytes  packets  errors  dropped carrier collsns
        12454456325 25565252 0       0       0       0
"""
from __future__ import annotations

import json
import re
from typing import Any

from hostmedic.engine.facts import Provenance
from hostmedic.engine.sources import Result

NAME = "network"
_HEAD = re.compile(r"^(?P<index>\d+): (?P<name>[^:@\s]+)(?:@\S+)?: <(?P<flags>[^>]*)>(?P<rest>.*)$")
_STATE = re.compile(r"\bstate (?P<state>\S+)")
_STATS = re.compile(r"^\s*(?P<dir>RX|TX)(?P<errors> errors)?:\s+(?P<cols>.+?)\s*$")
# The link's own kind (`ip -d` prints it on a line of its own); "bridge_slave" and the
# like say what a link is enslaved to, which a physical NIC can be too.
_KINDS = ("veth", "bridge", "bond", "vlan", "vxlan", "tun", "tap", "macvlan", "macvtap", "ipvlan",
          "openvswitch", "geneve", "gre", "dummy", "ifb", "wireguard", "team", "vrf")


def collect(ctx) -> None:
    links, result = _read_links(ctx)
    if links is None:
        ctx.status(NAME, result, hint="no interface list (iproute2 missing, or the networking "
                                      "plugin was skipped: `sos report -o networking`)")
        return
    for link in links:
        name = link["name"]
        if ctx.source.live:
            _sysfs(ctx, link)
        if not link.get("driver") and not link.get("kind") and name != "lo":
            driver = _ethtool_driver(ctx, name)
            if driver:
                link["driver"] = driver
        link["text"] = nic_text(link)
        ctx.add("nic", {k: v for k, v in link.items() if v is not None and k != "lineno"},
                Provenance("command", result.name, link.get("lineno")))
    ctx.status(NAME, "ok", detail=f"{len(links)} interface(s)", name=result.name)


def _read_links(ctx) -> tuple[list[dict[str, Any]] | None, Result]:
    if ctx.source.live:
        result = ctx.source.run(["ip", "-j", "-s", "-s", "-d", "link"])
        links = parse_ip_link_json(result.text) if result.ok else None
        if links is not None:
            return links, result
    result = ctx.source.run(["ip", "-s", "-d", "link"],
                            sos_paths=["sos_commands/networking/ip_-s_-d_link"])
    return (parse_ip_link_text(result.text) if result.ok else None), result


def parse_ip_link_json(text: str) -> list[dict[str, Any]] | None:
    """`ip -j -s [-s] -d link`; None when the text is not that JSON (old iproute2)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, list):
        return None
    links = []
    for item in data:
        if not isinstance(item, dict) or "ifname" not in item:
            continue
        stats = item.get("stats64") or item.get("stats") or {}
        rx, tx = stats.get("rx") or {}, stats.get("tx") or {}
        info = item.get("linkinfo") or {}
        links.append({"name": item["ifname"], "operstate": item.get("operstate"),
                      "flags": ",".join(item.get("flags") or []),
                      "kind": info.get("info_kind"),
                      "rx_errors": rx.get("errors"), "tx_errors": tx.get("errors"),
                      "rx_dropped": rx.get("dropped"), "tx_dropped": tx.get("dropped"),
                      "carrier_changes": tx.get("carrier_changes")})
    return links


def parse_ip_link_text(text: str) -> list[dict[str, Any]]:
    """`ip -s [-s] -d link` text. Counters are read by column name, so both the old
    ("overrun") and the new ("missed") header work, and `-s -s`'s "TX errors:" row gives
    carrier transitions ("transns")."""
    links: list[dict[str, Any]] = []
    header: tuple[str, list[str]] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _HEAD.match(line)
        if m:
            state = _STATE.search(m["rest"])
            links.append({"name": m["name"], "operstate": state["state"] if state else None,
                          "flags": m["flags"], "lineno": lineno})
            header = None
            continue
        if not links:
            continue
        link = links[-1]
        s = _STATS.match(line)
        if s:
            header = (s["dir"].lower() + ("_err" if s["errors"] else ""), s["cols"].split())
            continue
        if header is not None:
            values = line.split()
            if values and all(v.isdecimal() and len(v) <= 30 for v in values):
                _take(link, header[0], dict(zip(header[1], (int(v) for v in values))))
            header = None
            continue
        words = line.split()
        if words and words[0] in _KINDS and "kind" not in link:
            link["kind"] = words[0]
    return links


def _take(link: dict[str, Any], where: str, row: dict[str, int]) -> None:
    if where in ("rx", "tx"):
        link[f"{where}_errors"] = row.get("errors")
        link[f"{where}_dropped"] = row.get("dropped")
    elif where == "tx_err" and "transns" in row:
        link["carrier_changes"] = row["transns"]


def _sysfs(ctx, link: dict[str, Any]) -> None:
    """Driver, carrier changes and transmit timeouts from /sys/class/net/NAME."""
    base = f"/sys/class/net/{link['name']}"
    uevent = ctx.source.read(f"{base}/device/uevent")
    if uevent.ok:
        m = re.search(r"^DRIVER=(\S+)", uevent.text, re.M)
        if m:
            link["driver"] = m[1]
    if link.get("carrier_changes") is None:
        changes = ctx.source.read(f"{base}/carrier_changes")
        if changes.ok and changes.text.strip().isdecimal() and len(changes.text.strip()) <= 20:
            link["carrier_changes"] = int(changes.text.strip())
    timeouts = []
    for queue in ctx.source.listdir(f"{base}/queues"):
        if queue.startswith("tx-"):
            res = ctx.source.read(f"{base}/queues/{queue}/tx_timeout")
            if res.ok and res.text.strip().isdecimal() and len(res.text.strip()) <= 20:
                timeouts.append(int(res.text.strip()))
    if timeouts:
        link["tx_timeout"] = sum(timeouts)


def _ethtool_driver(ctx, name: str) -> str | None:
    """`ethtool -i NAME`: "driver: virtio_net" (sos saves it as ethtool_-i_NAME)."""
    res = ctx.source.run(["ethtool", "-i", name])
    if not res.ok:
        return None
    m = re.search(r"^driver:\s*(\S+)", res.text, re.M)
    return m[1] if m else None


def nic_text(link: dict[str, Any]) -> str:
    text = f"{link['name']}"
    if link.get("driver"):
        text += f" ({link['driver']})"
    text += f": {link.get('operstate') or 'state unknown'}"
    counters = [f"{k.replace('_', ' ')} {link[k]}" for k in
                ("rx_errors", "tx_errors", "rx_dropped", "tx_dropped", "carrier_changes", "tx_timeout")
                if link.get(k) is not None]
    return text + (", " + ", ".join(counters) if counters else "")
