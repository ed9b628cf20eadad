"""Linux software RAID (md): one ``md_array`` fact per array.

Fields: name and array (md0), level (raid1, or "unknown" for an inactive array), state (active,
inactive, active (auto-read-only)...), devices_total and devices_up (the [2/1] of mdstat),
members, failed_members (comma-separated names, or "none"), failed_count, spares,
degraded (fewer members up than the array needs), recovery ("recovery 8.5%",
"resync=DELAYED", or "none"), detail_state (mdadm --detail's "clean, degraded", when read),
removed_slots (slots mdadm --detail lists as "removed"), text (the array's line).

/proc/mdstat::

    md0 : active raid10 sdg[5] sdf[4] sde[3](F) sdd[2] sdc[1] sdb[0]
          761856 blocks super 1.2 512K chunks 2 near-copies [6/5] [UUU_UU]
          [=>...................]  recovery =  8.5% (16775552/195310144) finish=17.0min

``mdadm --detail`` (sos: ``mdadm -D /dev/md*`` -> sos_commands/md/mdadm_-D_.dev.md, all
arrays in one file)::

    /dev/md0:
                 State : clean, degraded
        Number   Major   Minor   RaidDevice State
           -       0        0        3      removed
           3       8       64        -      faulty   /dev/sde
"""
from __future__ import annotations

import re
from typing import Any

from hostmedic.engine.facts import Provenance
from hostmedic.engine.sources import ABSENT, MISSING

NAME = "mdraid"
_ARRAY = re.compile(r"^(?P<name>md[\w/]*)\s*:\s*(?P<state>active(?: \([\w-]+\))?|inactive)"
                    r"(?:\s+(?P<level>raid\d+|linear|multipath|faulty))?\s*(?P<members>.*)$")
_MEMBER = re.compile(r"^(?P<dev>[^\s\[]+)\[(?P<slot>\d+)\](?:\((?P<flag>[A-Z])\))?$")
_STATUS = re.compile(r"\[(?P<total>\d{1,9})/(?P<up>\d{1,9})\]\s+\[(?P<map>[U_]+)\]")
_SYNC = re.compile(r"(?P<what>recovery|resync|reshape|check|repair)\s*=\s*(?P<pct>[\d.]+%|DELAYED|PENDING)")


def parse_mdstat(text: str) -> list[dict[str, Any]]:
    arrays: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        m = _ARRAY.match(raw.strip()) if not raw.startswith((" ", "\t")) else None
        if m:
            members, failed, spares = [], [], []
            for token in m["members"].split():
                mm = _MEMBER.match(token)
                if not mm:
                    continue
                members.append(mm["dev"])
                if mm["flag"] == "F":
                    failed.append(mm["dev"])
                elif mm["flag"] == "S":
                    spares.append(mm["dev"])
            current = {"name": m["name"], "state": m["state"], "level": m["level"] or "unknown",
                       "members": ",".join(members), "failed_members": ",".join(failed) or "none",
                       "failed_count": len(failed), "spares": ",".join(spares) or "none",
                       "recovery": "none", "text": raw.strip(), "_line": lineno,
                       "_working": len(members) - len(failed) - len(spares)}
            arrays.append(current)
            continue
        if current is None or not raw.strip():
            current = None if not raw.strip() else current
            continue
        s = _STATUS.search(raw)
        if s:
            current["devices_total"], current["devices_up"] = int(s["total"]), int(s["up"])
            current["text"] += " " + raw.strip()
        y = _SYNC.search(raw)
        if y:
            current["recovery"] = f"{y['what']} {y['pct']}" if y["pct"].endswith("%") else \
                f"{y['what']}={y['pct']}"
    for a in arrays:
        working = a.pop("_working")
        if "devices_total" not in a:  # raid0/linear print no [n/m]: every member is needed
            a["devices_total"] = a["devices_up"] = working if a["state"] != "inactive" else 0
        a["degraded"] = a["state"] != "inactive" and a["devices_up"] < a["devices_total"]
    return arrays


def parse_detail(text: str) -> dict[str, dict[str, Any]]:
    """mdadm --detail output of one or more arrays, by array name (md0)."""
    out: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    in_table = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        head = re.match(r"^/dev/(?P<name>md[\w/]*):\s*$", raw.strip())
        if head and not raw.startswith(" "):
            name = head["name"].replace("md/", "")
            current = out.setdefault(name, {"_line": lineno, "removed_slots": 0, "faulty": []})
            in_table = False
            continue
        if current is None:
            continue
        kv = re.match(r"^\s*(?P<k>[A-Za-z][\w ]+?)\s*:\s*(?P<v>.*?)\s*$", raw)
        if raw.strip().startswith("Number") and "RaidDevice" in raw:
            in_table = True
            continue
        if in_table:
            parts = raw.split()
            if "removed" in parts:
                current["removed_slots"] += 1
            elif "faulty" in parts:
                current["faulty"].append(parts[-1].rsplit("/", 1)[-1])
            continue
        if kv:
            key = kv["k"].lower()
            if key == "state":
                current["detail_state"] = kv["v"]
                current["detail_line"] = lineno
            elif key == "raid level":
                current["level"] = kv["v"]
            elif key in ("raid devices", "active devices", "failed devices"):
                current[key.replace(" ", "_")] = int(kv["v"]) if kv["v"].isdecimal() and len(kv["v"]) <= 18 else kv["v"]
    return out


def collect(ctx) -> None:
    mdstat = ctx.source.read("/proc/mdstat", sos_paths=["proc/mdstat"])
    arrays = parse_mdstat(mdstat.text) if mdstat.ok else []
    detail_res = None
    if ctx.source.kind == "sosreport":
        detail_res = ctx.source.run(["mdadm", "-D", "/dev/md*"],
                                    sos_paths=["sos_commands/md/mdadm_-D_.dev.md"])
        details = parse_detail(detail_res.text) if detail_res.ok else {}
    else:
        details = {}
        for a in arrays:  # live: each array by name (needs root; a failure is only a status)
            res = ctx.source.run(["mdadm", "--detail", f"/dev/{a['name']}"])
            if res.text.strip():
                details.update(parse_detail(res.text))
                detail_res = res
            elif res.status != MISSING:
                ctx.status(NAME, res, hint="run diagnose as root for mdadm's view of the array")
    if not mdstat.ok and not details:
        if mdstat.status == ABSENT:
            ctx.status(NAME, "not applicable", name=mdstat.name,
                       hint="nothing to check unless this host should have software RAID",
                       detail="not collected: sos runs its md plugin only where mdadm is installed"
                       if ctx.source.kind == "sosreport" else
                       "no /proc/mdstat: the md (software RAID) driver is not loaded")
        else:
            ctx.status(NAME, mdstat, hint="software RAID state is unknown")
        return
    seen = set()
    for a in arrays:
        d = details.get(a["name"], {})
        _merge(a, d)
        seen.add(a["name"])
        _emit(ctx, a, Provenance("file", mdstat.name, a.pop("_line")))
    for name, d in details.items():  # arrays mdadm knows that mdstat did not list
        if name in seen or "detail_state" not in d:
            continue
        a = {"name": name, "state": "unknown", "level": d.get("level", "unknown"),
             "devices_total": d.get("raid_devices", 0), "devices_up": d.get("active_devices", 0),
             "members": "", "failed_members": ",".join(d["faulty"]) or "none",
             "failed_count": len(d["faulty"]), "spares": "none", "recovery": "none",
             "text": f"/dev/{name}: State : {d['detail_state']}"}
        _merge(a, d)
        a["degraded"] = "degraded" in d["detail_state"] or a["devices_up"] < a["devices_total"]
        _emit(ctx, a, Provenance("command", detail_res.name if detail_res else "mdadm --detail",
                                 d.get("detail_line")))
    ctx.status(NAME, "ok", name=mdstat.name if mdstat.ok else (detail_res.name if detail_res else ""),
               detail=f"{len(arrays)} md array(s)" + (", " + ", ".join(
                   f"{a['name']} degraded" for a in arrays if a["degraded"]) if any(
                   a["degraded"] for a in arrays) else ""))


def _merge(a: dict[str, Any], d: dict[str, Any]) -> None:
    if not d:
        return
    if "detail_state" in d:
        a["detail_state"] = d["detail_state"]
        if "degraded" in d["detail_state"]:
            a["degraded"] = True
    a["removed_slots"] = d.get("removed_slots", 0)
    extra = [f for f in d.get("faulty", []) if f not in a["failed_members"].split(",")]
    if extra:
        failed = [f for f in a["failed_members"].split(",") if f != "none"] + extra
        a["failed_members"], a["failed_count"] = ",".join(failed), len(failed)


def _emit(ctx, a: dict[str, Any], prov: Provenance) -> None:
    a.pop("_line", None)
    a["array"] = a["name"]  # the name kernel and mdadm log lines use, for joins
    ctx.add("md_array", a, prov)
