"""libvirt/qemu: domains, their disks and memory balloon, and their logs.

Facts
    domain       name, uuid, state, reason, max_kib, current_kib, memory_percent
                 (current of max), balloon_actual_kib, balloon_model, balloon_autodeflate,
                 agent_channel, agent_state, persistent, autostart, text
    domain_disk  domain, target, bus, device, source_type, source, driver_type, discard,
                 detect_zeroes, error_policy, rerror_policy, error, live_discard, text
    log          streams "qemu" (NAME.log), "console" (serial/console log files the
                 domain XML names) and "libvirtd" (libvirtd.log)

On this host the live libvirt API is read (read-only connection to --libvirt-uri).
In a sosreport, what sos's libvirt and virsh plugins saved is read, as sos saved it::

    etc/libvirt/qemu/NAME.xml            persistent definition ("what the next boot gets")
    etc/libvirt/qemu/autostart/NAME.xml  autostart links
    run/libvirt/qemu/NAME.xml            live status of a running or paused domain:
        <domstatus state='paused' reason='ioerror' pid='2351'>
          ...
          <domain type='qemu' id='1'> ... </domain>
        </domstatus>
    sos_commands/virsh/virsh_-r_list_--all
         Id   Name      State
        --------------------------
         1    hm-full   paused
         -    hm-off    shut off
    var/log/libvirt/qemu/NAME.log        qemu log:
        2024-11-21 10:00:00.123+0000: starting up libvirt version: 9.0.0, ...
        2024-11-21T10:05:00.120313Z qemu-system-x86_64: terminating on signal 15 from pid 694 (libvirtd)
        2024-11-21 10:05:00.456+0000: shutting down, reason=destroyed
    var/log/libvirt/libvirtd.log
        2024-11-21 10:00:00.123+0000: 694: error : qemuDomainAgentAvailable:8562 : Guest agent is not responding: ...

When the API cannot be used on this host (no libvirt-python, no daemon, access denied,
no answer), one collector status says so and the same files are read from this host.
"""
from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from hostmedic.collectors.logtext import Line, add_log_line, iso_time, parse_dmesg_text
from hostmedic.engine.facts import Provenance
from hostmedic.engine.sources import ABSENT, DENIED, FAILED, Result

NAME = "libvirt"

PERSISTENT_DIR = "/etc/libvirt/qemu"
STATUS_DIR = "/run/libvirt/qemu"
QEMU_LOG_DIR = "/var/log/libvirt/qemu"
LIBVIRTD_LOG = "/var/log/libvirt/libvirtd.log"
AGENT_CHANNEL = "org.qemu.guest_agent.0"
DEFAULT_URI = "qemu:///system"

# virDomainState, and the reason words libvirt writes in <domstatus reason='...'>
# (src/conf/domain_conf.c, VIR_ENUM_IMPL(virDomain*Reason)), indexed like the API's reason.
STATES = ["nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed",
          "pmsuspended"]
REASONS = {
    "nostate": ["unknown"],
    "running": ["unknown", "booted", "migrated", "restored", "from snapshot", "unpaused",
                "migration canceled", "save canceled", "wakeup", "crashed", "post-copy",
                "post-copy failed"],
    "blocked": ["unknown"],
    "paused": ["unknown", "user", "migration", "save", "dump", "ioerror", "watchdog",
               "from snapshot", "shutdown", "snapshot", "panicked", "starting up", "post-copy",
               "post-copy failed", "api error"],
    "shutdown": ["unknown", "user"],
    "shutoff": ["unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
                "from snapshot", "daemon"],
    "crashed": ["unknown", "panicked"],
    "pmsuspended": ["unknown"],
}
# The State column of `virsh list` (virshDomainStateToString).
VIRSH_STATES = {"running": "running", "idle": "blocked", "blocked": "blocked", "paused": "paused",
                "in shutdown": "shutdown", "shut off": "shutoff", "crashed": "crashed",
                "pmsuspended": "pmsuspended", "no state": "nostate"}
DISK_ERRORS = {0: "none", 1: "unspec", 2: "nospace"}  # virDomainDiskErrorCode

_UNITS = {"b": 1, "bytes": 1, "kb": 1000, "k": 1024, "kib": 1024, "mb": 1000 ** 2,
          "m": 1024 ** 2, "mib": 1024 ** 2, "gb": 1000 ** 3, "g": 1024 ** 3, "gib": 1024 ** 3,
          "tb": 1000 ** 4, "t": 1024 ** 4, "tib": 1024 ** 4, "pb": 1000 ** 5, "p": 1024 ** 5,
          "pib": 1024 ** 5, "eb": 1000 ** 6, "e": 1024 ** 6, "eib": 1024 ** 6}

HINT_PARSE = ("the file is damaged or cut short; the domain is described from its other "
              "copies (live status, persistent definition) when there are any")


# -- XML ---------------------------------------------------------------------------------

class XmlError(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(f"parse error at line {line}: {message}")
        self.line = line


def parse_xml(text: str) -> tuple[ET.Element, dict[ET.Element, int]]:
    """ElementTree from text, with the line each element starts on. No DOCTYPE allowed
    (libvirt never writes one; refusing it keeps entity tricks out)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    lines: dict[ET.Element, int] = {}

    def start(tag: str, attrs: dict[str, str]) -> None:
        lines[builder.start(tag, attrs)] = parser.CurrentLineNumber

    def doctype(*_args: Any) -> None:
        raise XmlError(parser.CurrentLineNumber, "a DOCTYPE is not allowed in libvirt XML")

    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(text, True)
        root = builder.close()
    except expat.ExpatError as err:
        raise XmlError(err.lineno, expat.ErrorString(err.code)) from None
    except AssertionError:  # TreeBuilder: unbalanced input that expat let through
        raise XmlError(parser.CurrentLineNumber, "unbalanced elements") from None
    return root, lines


@dataclass
class XmlDoc:
    """One domain XML: a persistent definition, a live status or an API answer."""

    domain: ET.Element  # the <domain> element
    lines: dict[ET.Element, int]
    origin: str  # "file" | "api" | "command"
    name: str  # path, command output or API call it came from
    status: dict[str, str] = field(default_factory=dict)  # <domstatus> attributes

    def line(self, el: ET.Element | None) -> int | None:
        return self.lines.get(el) if el is not None else None

    def prov(self, el: ET.Element | None = None) -> Provenance:
        return Provenance(self.origin, self.name, self.line(el if el is not None else self.domain))

    @property
    def domain_name(self) -> str | None:
        text = (self.domain.findtext("name") or "").strip()
        return text or None

    def devices(self, tag: str) -> list[ET.Element]:
        return self.domain.findall(f"./devices/{tag}")


def load_doc(ctx, text: str, origin: str, name: str) -> XmlDoc | None:
    """Parse one domain or domstatus XML; a broken one becomes a status naming it."""
    try:
        root, lines = parse_xml(text)
    except XmlError as err:
        ctx.status(NAME, FAILED, detail=f"{name}: {err}", hint=HINT_PARSE, name=name)
        return None
    status: dict[str, str] = {}
    dom: ET.Element | None = root
    if root.tag == "domstatus":
        status = dict(root.attrib)
        dom = root.find("domain")
    if dom is None or dom.tag != "domain":
        what = "a <domstatus> without a <domain>" if root.tag == "domstatus" \
            else f"root element <{root.tag}>"
        ctx.status(NAME, FAILED, detail=f"{name}: not a libvirt domain XML ({what})",
                   hint=HINT_PARSE, name=name)
        return None
    return XmlDoc(dom, lines, origin, name, status)


def memory_kib(el: ET.Element | None) -> int | None:
    if el is None or not (el.text or "").strip():
        return None
    try:
        value = int(el.text.strip())
    except ValueError:
        return None
    factor = _UNITS.get((el.get("unit") or "KiB").lower())
    return None if factor is None else value * factor // 1024


def _quote(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;"))


def element_text(el: ET.Element | None) -> str:
    """An element's start tag the way libvirt writes it: <driver name='qemu' type='qcow2'/>."""
    if el is None:
        return ""
    attrs = "".join(f" {k}='{_quote(v)}'" for k, v in el.attrib.items())
    return f"<{el.tag}{attrs}/>"


def disk_source(disk: ET.Element) -> str | None:
    src = disk.find("source")
    if src is None:
        return None
    for attr in ("file", "dev", "dir"):
        if src.get(attr):
            return src.get(attr)
    if src.get("pool"):
        return f"{src.get('pool')}/{src.get('volume', '')}"
    if src.get("protocol"):
        host = src.find("host")
        where = ""
        if host is not None and host.get("name"):
            where = host.get("name") + (f":{host.get('port')}" if host.get("port") else "")
        return f"{src.get('protocol')}://{where}/{src.get('name', '')}"
    return None


# -- the domain model ---------------------------------------------------------------------

@dataclass
class Domain:
    name: str
    prov: Provenance
    uuid: str | None = None
    state: str | None = None
    reason: str | None = None
    persistent: bool | None = None
    autostart: bool | None = None
    live: XmlDoc | None = None  # live XML / status: what runs now
    config: XmlDoc | None = None  # persistent definition: what the next boot gets
    max_kib: int | None = None
    current_kib: int | None = None
    balloon_actual_kib: int | None = None
    disk_errors: dict[str, str] | None = None  # target -> none|unspec|nospace (live only)

    def console_logs(self) -> list[str]:
        """Files the guest's serial port or console is logged to, as the XML names them."""
        paths: list[str] = []
        for doc in (self.live, self.config):
            if doc is None:
                continue
            for tag in ("serial", "console"):
                for chr_dev in doc.devices(tag):
                    log = chr_dev.find("log")
                    if log is not None and log.get("file"):
                        paths.append(log.get("file"))
                    src = chr_dev.find("source")
                    if chr_dev.get("type") == "file" and src is not None and src.get("path"):
                        paths.append(src.get("path"))
        return list(dict.fromkeys(paths))


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def emit_domain(ctx, d: Domain) -> None:
    doc = d.live or d.config
    fields: dict[str, Any] = {"name": d.name, "uuid": d.uuid, "state": d.state,
                              "reason": d.reason}
    max_kib, current_kib = d.max_kib, d.current_kib
    if doc is not None:
        fields["uuid"] = fields["uuid"] or (doc.domain.findtext("uuid") or "").strip() or None
        fields["virt_type"] = doc.domain.get("type")  # kvm, or qemu (emulated on purpose)
        if max_kib is None:
            max_kib = memory_kib(doc.domain.find("memory"))
        if current_kib is None:
            current_kib = memory_kib(doc.domain.find("currentMemory"))
    fields.update(max_kib=max_kib, current_kib=current_kib,
                  balloon_actual_kib=d.balloon_actual_kib)
    if max_kib and current_kib is not None:  # how much of its memory the guest has now
        fields["memory_percent"] = round(current_kib * 100 / max_kib)
    if doc is not None:
        balloon = doc.domain.find("./devices/memballoon")
        fields["balloon_model"] = "absent" if balloon is None else balloon.get("model", "virtio")
        if balloon is not None and fields["balloon_model"] != "none":
            # "unset" rather than no field: rules test `balloon_autodeflate != "on"`, and
            # durable_rules never matches a comparison on a field a fact does not have
            fields["balloon_autodeflate"] = balloon.get("autodeflate") or "unset"
        agent = next((t for t in (ch.find("target") for ch in doc.devices("channel"))
                      if t is not None and t.get("name") == AGENT_CHANNEL), None)
        fields["agent_channel"] = agent is not None
        if agent is not None:
            fields["agent_state"] = agent.get("state")
    fields.update(persistent=d.persistent, autostart=d.autostart)
    fields["text"] = domain_text(_clean(fields))
    ctx.add("domain", _clean(fields), d.prov)


def domain_text(f: dict[str, Any]) -> str:
    text = f"domain {f['name']}: {f.get('state', 'state unknown')}"
    if f.get("reason"):
        text += f" ({f['reason']})"
    if f.get("max_kib") is not None or f.get("current_kib") is not None:
        text += f", memory {f.get('current_kib', '?')}/{f.get('max_kib', '?')} KiB"
    if f.get("balloon_actual_kib") is not None:
        text += f", balloon actual {f['balloon_actual_kib']} KiB"
    if "balloon_model" in f:
        text += f", memballoon {f['balloon_model']}"
        if f["balloon_model"] not in ("none", "absent"):
            text += f" autodeflate {f.get('balloon_autodeflate', 'unset')}"
    if f.get("agent_channel"):
        text += f", guest agent channel {f.get('agent_state', 'defined')}"
    elif "agent_channel" in f:
        text += ", no guest agent channel"
    return text


def emit_disks(ctx, d: Domain) -> None:
    """Disks as the persistent definition has them (the live XML for a transient domain),
    with the live discard setting where it differs and the live disk errors."""
    base = d.config or d.live
    if base is None:
        return
    live_by_target: dict[str, ET.Element] = {}
    if d.live is not None and base is not d.live:
        for disk in d.live.devices("disk"):
            target = disk.find("target")
            if target is not None and target.get("dev"):
                live_by_target[target.get("dev")] = disk
    for disk in base.devices("disk"):
        target = disk.find("target")
        driver = disk.find("driver")
        dev = target.get("dev") if target is not None else None
        drv = driver.attrib if driver is not None else {}
        fields = {"domain": d.name, "target": dev,
                  "bus": target.get("bus") if target is not None else None,
                  "device": disk.get("device", "disk"), "source_type": disk.get("type"),
                  "source": disk_source(disk), "driver_type": drv.get("type"),
                  "discard": drv.get("discard"), "detect_zeroes": drv.get("detect_zeroes"),
                  "error_policy": drv.get("error_policy"),
                  "rerror_policy": drv.get("rerror_policy")}
        live_disk = live_by_target.get(dev) if dev else None
        if live_disk is not None:
            live_driver = live_disk.find("driver")
            live_discard = live_driver.get("discard") if live_driver is not None else None
            if live_discard != drv.get("discard"):
                fields["live_discard"] = live_discard or "unset"
        if d.disk_errors is not None and dev:
            fields["error"] = d.disk_errors.get(dev, "none")
        fields["text"] = " ".join(t for t in (element_text(driver),
                                              element_text(disk.find("source"))) if t) \
            or element_text(disk)
        ctx.add("domain_disk", _clean(fields), base.prov(disk))


# -- read problems --------------------------------------------------------------------------

class Problems:
    """Reads that went wrong (denied, failed), reported as one status per kind."""

    HINTS = {DENIED: "run diagnose as root: libvirt's definitions, status files and logs "
                     "are readable by root only",
             FAILED: "these files could not be read; check the file system that holds them"}

    def __init__(self) -> None:
        self.results: list[Result] = []

    def add(self, result: Result) -> None:
        if result.status != ABSENT and not result.ok:
            self.results.append(result)

    def flush(self, ctx) -> None:
        kinds: dict[str, list[Result]] = {}
        for r in self.results:
            kinds.setdefault(r.status, []).append(r)
        for status, results in kinds.items():
            shown = "; ".join(f"{r.name}: {r.detail}" for r in results[:3])
            more = f" (and {len(results) - 3} more)" if len(results) > 3 else ""
            ctx.status(NAME, status, detail=f"cannot read {shown}{more}",
                       hint=self.HINTS.get(status, "the libvirt files could not be read"),
                       name=results[0].name)


# -- live: the libvirt API ------------------------------------------------------------------

class _Watch:
    """What the API reader thread has done so far, and when it last made progress."""

    def __init__(self) -> None:
        self.step = "connecting"
        self.last = time.monotonic()
        self.done = threading.Event()
        self.connected = False
        self.connect_error: BaseException | None = None
        self.domains: list[dict[str, Any]] = []

    def tick(self, step: str) -> None:
        self.step = step
        self.last = time.monotonic()


def _read_api(libvirt: Any, uri: str, watch: _Watch) -> None:
    """Runs in a thread: a hung libvirtd must not hang the diagnosis."""
    try:
        conn = libvirt.openReadOnly(uri)
    except BaseException as err:  # libvirtError, or anything a broken binding raises
        watch.connect_error = err
        watch.done.set()
        return
    try:
        watch.connected = True
        watch.tick("listing domains")
        for dom in conn.listAllDomains(0):
            raw: dict[str, Any] = {}
            try:
                raw["name"] = dom.name()
                watch.tick(f"reading domain {raw['name']}")
                raw["uuid"] = dom.UUIDString()
                raw["state"] = dom.state()
                raw["info"] = dom.info()
                raw["persistent"] = bool(dom.isPersistent())
                raw["active"] = bool(dom.isActive())
                raw["xml"] = dom.XMLDesc(0)
                if raw["persistent"]:
                    raw["autostart"] = bool(dom.autostart())
                    if raw["active"]:
                        raw["xml_inactive"] = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
                if raw["active"]:
                    watch.tick(f"reading memory statistics of {raw['name']}")
                    try:
                        raw["memstats"] = dom.memoryStats()
                    except libvirt.libvirtError:
                        pass
                    watch.tick(f"reading disk errors of {raw['name']}")
                    try:
                        raw["disk_errors"] = dom.diskErrors()
                    except libvirt.libvirtError:
                        pass
            except libvirt.libvirtError as err:  # e.g. the domain went away meanwhile
                raw["error"] = str(err)
            watch.domains.append(raw)
        watch.tick("done")
    except Exception as err:  # libvirtError while listing, or a broken binding
        watch.connect_error = err
    finally:
        try:
            conn.close()
        except Exception:
            pass
        watch.done.set()


_DENIED_MSG = re.compile(r"permission denied|access denied|not authorized|authentication|"
                         r"polkit|operation not permitted", re.I)
_ABSENT_MSG = re.compile(r"no such file or directory|connection refused|failed to connect socket|"
                         r"no connection driver available|cannot find .*socket", re.I)


def _connect_failure(libvirt: Any, err: BaseException, uri: str) -> tuple[str, str]:
    code = err.get_error_code() if hasattr(err, "get_error_code") else None
    denied_codes = {getattr(libvirt, n, None) for n in (
        "VIR_ERR_AUTH_FAILED", "VIR_ERR_AUTH_CANCELLED", "VIR_ERR_AUTH_UNAVAILABLE",
        "VIR_ERR_OPERATION_DENIED", "VIR_ERR_ACCESS_DENIED")} - {None}
    msg = str(err)
    if code in denied_codes or _DENIED_MSG.search(msg):
        return DENIED, (f"run diagnose as root, or allow read-only access to {uri} for this "
                        "user (libvirtd.conf auth_unix_ro / unix_sock_ro_perms, or polkit)")
    if _ABSENT_MSG.search(msg):
        return ABSENT, ("libvirtd is not running here, or this is not a KVM host; start "
                        "libvirtd (or virtqemud), or use --libvirt-uri to point elsewhere")
    return FAILED, (f"check that {uri} is the right URI (--libvirt-uri) and that "
                    f"`virsh -r -c {uri} list --all` works")


def _live_domain(ctx, uri: str, raw: dict[str, Any]) -> Domain | None:
    name = raw["name"]
    prov = Provenance("api", f"{uri} domain {name}")
    if "error" in raw:
        ctx.status(NAME, FAILED, detail=f"{uri}: domain {name}: {raw['error']}",
                   hint="the domain may have gone away while it was read; run again",
                   name=f"{uri} domain {name}")
        return None
    d = Domain(name=name, prov=prov, uuid=raw.get("uuid"), persistent=raw.get("persistent"),
               autostart=raw.get("autostart"))
    code, reason = raw["state"]
    d.state = STATES[code] if 0 <= code < len(STATES) else f"state {code}"
    words = REASONS.get(d.state, [])
    d.reason = words[reason] if 0 <= reason < len(words) else f"reason {reason}"
    info = raw.get("info") or []
    if len(info) >= 3:
        d.max_kib, d.current_kib = int(info[1]), int(info[2])
    actual = (raw.get("memstats") or {}).get("actual")
    d.balloon_actual_kib = int(actual) if actual is not None else None
    if "disk_errors" in raw:
        d.disk_errors = {dev: DISK_ERRORS.get(c, str(c)) for dev, c in raw["disk_errors"].items()}
    xml_name = f"{uri} virDomainGetXMLDesc({name})"
    if raw.get("active"):
        d.live = load_doc(ctx, raw["xml"], "api", xml_name)
        if raw.get("xml_inactive"):
            d.config = load_doc(ctx, raw["xml_inactive"], "api",
                                f"{uri} virDomainGetXMLDesc({name}, VIR_DOMAIN_XML_INACTIVE)")
    else:
        d.config = load_doc(ctx, raw["xml"], "api", xml_name)
    return d


def collect_live(ctx) -> tuple[list[Domain] | None, tuple[str, str, str] | None]:
    """Domains from the API, or None and (status, detail, hint) when it cannot be used."""
    uri = getattr(ctx.options, "libvirt_uri", None) or DEFAULT_URI
    try:
        import libvirt  # the libvirt-python binding, not this module
    except ImportError as err:
        return None, ("missing", f"libvirt-python is not installed ({err})",
                      "install libvirt-python (Debian/Ubuntu and RHEL: python3-libvirt) "
                      "to read domain state, disk errors and balloon size live")
    libvirt.registerErrorHandler(lambda *_args: None, None)
    watch = _Watch()
    threading.Thread(target=_read_api, args=(libvirt, uri, watch), daemon=True,
                     name="hostmedic-libvirt").start()
    limit = max(float(getattr(ctx.options, "timeout", 10) or 10), 1.0)
    while not watch.done.wait(0.05):
        if time.monotonic() - watch.last > limit:
            break
    if watch.connect_error is not None and not watch.connected:
        status, hint = _connect_failure(libvirt, watch.connect_error, uri)
        return None, (status, f"cannot connect to {uri}: {watch.connect_error}", hint)
    if not watch.connected:
        return None, ("timeout", f"{uri} did not answer within {limit:g} s",
                      "libvirtd may be hung (a stuck qemu monitor or storage call); check "
                      "`virsh -r list --all` and libvirtd's log or journal")
    raws = list(watch.domains)
    domains = [d for d in (_live_domain(ctx, uri, raw) for raw in raws) if d]
    if watch.connect_error is not None:
        ctx.status(NAME, FAILED, detail=f"{uri}: {watch.connect_error}",
                   hint="libvirt failed while listing domains; the domains read are shown",
                   name=uri)
    elif not watch.done.is_set():
        ctx.status(NAME, "timeout", detail=f"{uri} stopped answering while {watch.step} "
                   f"(no answer within {limit:g} s)",
                   hint="libvirtd or a domain's qemu monitor may be hung; the domains read "
                        "before it stopped are shown", name=uri)
    else:
        ctx.status(NAME, "ok", detail=f"{len(domains)} domain(s) read from {uri}", name=uri)
    return domains, None


# -- files: a sosreport, or this host when the API cannot be used ---------------------------

_XML_NAME = re.compile(r"^(?P<stem>.+)\.xml$")


def _read_docs(ctx, directory: str, problems: Problems) -> dict[str, XmlDoc]:
    docs: dict[str, XmlDoc] = {}
    for entry in ctx.source.listdir(directory):
        m = _XML_NAME.match(entry)
        if not m:
            continue  # networks/, autostart/, NAME.pid, per-domain folders
        res = ctx.source.read(f"{directory}/{entry}")
        if not res.ok:
            problems.add(res)
            continue
        doc = load_doc(ctx, res.text, "file", res.name)
        if doc is not None:
            docs[doc.domain_name or m["stem"]] = doc
    return docs


def parse_virsh_list(text: str) -> dict[str, str]:
    """`virsh list --all`: name -> state word (running, paused, shutoff, ...)."""
    states: dict[str, str] = {}
    lines = text.splitlines()
    header = next((i for i, l in enumerate(lines) if re.match(r"^\s*Id\s+Name\s+State\s*$", l)),
                  None)
    if header is None:
        return states
    name_col, state_col = lines[header].index("Name"), lines[header].index("State")
    for line in lines[header + 1:]:
        if not line.strip() or set(line.strip()) == {"-"}:
            continue
        name = line[name_col:state_col].strip()
        state = line[state_col:].strip()
        if not name or not state:  # a row wider than the header: split on the gap instead
            parts = re.split(r"\s{2,}", line.strip())
            if len(parts) < 3:
                continue
            name, state = parts[1], parts[2]
        states[name] = VIRSH_STATES.get(state, state)
    return states


def _virsh(ctx, *args: str) -> Result:
    argv = ["virsh", "-r", *args]
    mangled = "_".join(argv)
    return ctx.source.run(argv, sos_paths=[f"sos_commands/virsh/{mangled}",
                                           f"sos_commands/virsh/{mangled.replace('_-r', '', 1)}"])


def collect_files(ctx, problems: Problems) -> list[Domain]:
    src = ctx.source
    config = _read_docs(ctx, PERSISTENT_DIR, problems)
    status = _read_docs(ctx, STATUS_DIR, problems)
    have_config_dir = bool(src.listdir(PERSISTENT_DIR))
    autostart = {m["stem"] for m in map(_XML_NAME.match, src.listdir(f"{PERSISTENT_DIR}/autostart"))
                 if m}
    virsh_states: dict[str, str] = {}
    virsh_prov: Provenance | None = None
    if src.kind != "local":  # live virsh output is read through the API instead
        res = _virsh(ctx, "list", "--all")
        if res.ok:
            virsh_states = parse_virsh_list(res.text)
            virsh_prov = Provenance("command", res.name)
    names = list(dict.fromkeys([*config, *status, *virsh_states]))
    domains = []
    for name in names:
        live, conf = status.get(name), config.get(name)
        if live is None and conf is None and src.kind != "local":
            res = _virsh(ctx, "dumpxml", name)
            if res.ok:
                doc = load_doc(ctx, res.text, "command", res.name)
                if doc is not None and virsh_states.get(name, "shutoff") != "shutoff":
                    live = doc
                else:
                    conf = doc
        main = live or conf
        d = Domain(name=name, live=live, config=conf,
                   prov=main.prov() if main else virsh_prov or Provenance("derived", NAME))
        if live is not None and live.status.get("state"):
            d.state, d.reason = live.status["state"], live.status.get("reason")
        elif name in virsh_states:
            d.state = virsh_states[name]
        elif conf is not None:
            d.state = "shutoff"  # a definition and no status file: not running
        if conf is not None:
            d.persistent = True
        elif have_config_dir:
            d.persistent = False
        elif src.kind != "local":
            info = _virsh(ctx, "dominfo", name)
            m = re.search(r"^Persistent:\s+(yes|no)\s*$", info.text, re.M) if info.ok else None
            d.persistent = (m[1] == "yes") if m else None
        if have_config_dir and d.persistent:
            d.autostart = name in autostart
        domains.append(d)
    return domains


# -- logs -----------------------------------------------------------------------------------

_STAMP = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d)[ T](?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d+)?"
                    r"(?P<tz>Z|[+-]\d\d:?\d\d)?:? (?P<msg>.*)$")
_LIBVIRTD = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d) (?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d+)?"
                       r"(?P<tz>Z|[+-]\d\d:?\d\d)?: (?P<tid>\d+): "
                       r"(?P<level>debug|info|warning|error) : "
                       r"(?:(?P<func>[A-Za-z_]\w*):(?P<fline>\d+) : )?(?P<msg>.*)$")
_LEVELS = {"error": 3, "warning": 4, "info": 6, "debug": 7}
# CSI sequences (colours, erase line), charset selection, and the two-byte escapes systemd's
# status redraw uses (ESC M, reverse index: the status line is drawn over itself)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[@-Z\\-_78=>]|\r")
_CONSOLE_STAMP = re.compile(r"^(?:<\d>)?\[\s*\d+\.\d+\]")
_LINUX_VERSION = re.compile(r"^Linux version \d")
_CONSOLE_FILE = re.compile(r"^(?P<domain>.+)-(?:serial|console)\d*$")  # NAME-serial0.log


def parse_qemu_log(text: str) -> list[Line]:
    """A domain's qemu log: libvirt's own stamped lines, the command line (one line per
    argument, each ending in a backslash: joined into one message), and qemu's messages
    (stamped with -msg timestamp=on)."""
    out: list[Line] = []
    block: list[str] = []
    start = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if block or line.endswith("\\"):
            if not block:
                start = lineno
            block.append(line.rstrip("\\").strip())
            if line.endswith("\\"):
                continue
            out.append(Line(" ".join(p for p in block if p), start, {}))
            block = []
            continue
        if not line.strip():
            continue
        m = _STAMP.match(line)
        if m:
            out.append(Line(m["msg"], lineno, {"t": iso_time(m)}))
        else:
            out.append(Line(line.strip(), lineno, {}))
    if block:
        out.append(Line(" ".join(p for p in block if p), start, {}))
    return out


def parse_console_log(text: str) -> list[Line]:
    """A guest's serial console: kernel lines ("[   12.345678] ...") get ident kernel,
    other lines (init, systemd status, login prompts) no ident; boots are numbered from
    the end of the file (0 = the last boot in it), "Linux version" starting a new one."""
    text = _ANSI.sub("", text)
    raws = text.splitlines()
    lines = list(parse_dmesg_text(text))
    boot, seen = 0, False
    marks = []
    for line in lines:
        if _LINUX_VERSION.match(line.message) and seen:
            boot += 1
        seen = True
        marks.append(boot)
    for line, mark in zip(lines, marks):
        line.fields["boot"] = mark - boot
        if not _CONSOLE_STAMP.match(raws[line.lineno - 1]):
            line.fields["ident"] = None
    return lines


def parse_libvirtd_log(text: str) -> list[Line]:
    out: list[Line] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        m = _LIBVIRTD.match(raw)
        if m:
            out.append(Line(m["msg"], lineno, {"t": iso_time(m), "ident": "libvirtd",
                                               "priority": _LEVELS[m["level"]],
                                               "function": m["func"]}))
        elif out:
            out[-1].message += "\n" + raw.rstrip()
        else:
            out.append(Line(raw.rstrip(), lineno, {"ident": "libvirtd"}))
    return out


def _looks_like_console(text: str) -> bool:
    lines = [l for l in text.splitlines()[:200] if l.strip()]
    return bool(lines) and sum(bool(_CONSOLE_STAMP.match(l)) for l in lines) * 2 > len(lines)


class LogReader:
    def __init__(self, ctx, problems: Problems):
        self.ctx = ctx
        self.problems = problems
        self.done: set[str] = set()
        self.count = 0

    def _read(self, path: str) -> Result | None:
        key = "/" + path.lstrip("/")
        if key in self.done:
            return None
        self.done.add(key)
        res = self.ctx.source.read(path)
        if not res.ok:
            self.problems.add(res)
            return None
        self.count += 1
        return res

    def qemu(self, path: str, domain: str | None, res: Result | None = None) -> None:
        res = res or self._read(path)
        if res is None:
            return
        for line in parse_qemu_log(res.text):
            add_log_line(self.ctx, "qemu", line, "file", res.name, ident="qemu", domain=domain)

    def console(self, path: str, domain: str | None, res: Result | None = None) -> None:
        res = res or self._read(path)
        if res is None:
            return
        for line in parse_console_log(res.text):
            add_log_line(self.ctx, "console", line, "file", res.name, domain=domain)

    def libvirtd(self, path: str) -> None:
        res = self._read(path)
        if res is None:
            return
        for line in parse_libvirtd_log(res.text):
            # debug lines (log_filters="1:...") can run to millions: keep those a rule wants
            if line.fields.get("priority") == 7 and not self.ctx.interesting(line.message):
                continue
            add_log_line(self.ctx, "libvirtd", line, "file", res.name)


def collect_logs(ctx, domains: list[Domain], problems: Problems) -> int:
    logs = LogReader(ctx, problems)
    names = [d.name for d in domains]
    for d in domains:
        consoles = d.console_logs()
        for path in consoles:
            logs.console(path, d.name)
        logs.qemu(f"{QEMU_LOG_DIR}/{d.name}.log", d.name)
    # logs of domains that are gone (transient, undefined) or whose XML could not be read
    for entry in ctx.source.listdir(QEMU_LOG_DIR):
        path = f"{QEMU_LOG_DIR}/{entry}"
        if not entry.endswith(".log") or path in logs.done:
            continue
        res = logs._read(path)
        if res is None:
            continue
        stem = entry[:-4]
        if _looks_like_console(res.text):
            owner = max((n for n in names if stem.startswith(n + "-")), key=len, default=None)
            m = _CONSOLE_FILE.match(stem)
            logs.console(path, owner or (m["domain"] if m else None), res)
        else:
            logs.qemu(path, stem, res)
    logs.libvirtd(LIBVIRTD_LOG)
    return logs.count


# -- the collector --------------------------------------------------------------------------

def collect(ctx) -> None:
    problems = Problems()
    failure = None
    domains: list[Domain] | None = None
    if ctx.source.kind == "local":
        domains, failure = collect_live(ctx)
    if domains is None:
        domains = collect_files(ctx, problems)
    for d in domains:
        emit_domain(ctx, d)
        emit_disks(ctx, d)
    nlogs = collect_logs(ctx, domains, problems)
    if failure is not None:  # one status for the API, saying what was read instead
        status, detail, hint = failure
        instead = []
        if domains:
            instead.append(f"{len(domains)} domain(s) from {PERSISTENT_DIR} and {STATUS_DIR}")
        if nlogs:
            instead.append(f"{nlogs} log file(s) under /var/log/libvirt")
        if instead:
            detail += "; read instead: " + ", ".join(instead)
        ctx.status(NAME, status, detail=detail, hint=hint,
                   name=getattr(ctx.options, "libvirt_uri", None) or DEFAULT_URI)
    elif ctx.source.kind != "local":
        where = ctx.source.description or ctx.source.kind
        sos = ctx.source.kind == "sosreport"
        if domains:
            ctx.status(NAME, "ok", detail=f"{len(domains)} domain(s) and {nlogs} log file(s) "
                       f"read from {where}", name=PERSISTENT_DIR)
        elif nlogs:
            ctx.status(NAME, ABSENT, detail=f"no domain definitions or status files; "
                       f"{nlogs} libvirt log file(s) read",
                       hint="run sos with its libvirt plugin (and `-o virsh` on Debian, where "
                            "the virsh plugin is off by default) to see the domains' state"
                       if sos else "run as root to read libvirt's definitions and status files",
                       name=PERSISTENT_DIR)
        else:
            ctx.status(NAME, ABSENT, detail=f"no libvirt domains or logs in {where}",
                       hint="not a libvirt/KVM host, or sos ran without its libvirt and virsh "
                            "plugins (`sos report -o libvirt,virsh`)" if sos else
                            "not a libvirt/KVM host, or libvirt's files are readable by root "
                            "only", name=PERSISTENT_DIR)
    problems.flush(ctx)
