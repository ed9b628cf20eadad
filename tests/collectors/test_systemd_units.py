"""The systemd_units collector: failed units with their history, unit settings, and the
rules that read them (failed-units, service-start-before-dns), live and from sosreports."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pytest

from hostmedic.collectors import Context, Options, boots, journal, systemd_units
from hostmedic.engine.analysis import analyse, collect
from hostmedic.engine.facts import FactBase
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import ABSENT, FAILED, OK, Result, SosreportSource, Source

DATA = Path(__file__).resolve().parents[1] / "data" / "systemd"
SOS = DATA / "sos-pollinate"
SHOW = (SOS / "sos_commands/systemd/systemctl_show_service_--all").read_text()
CORPUS_VAULT = Path(__file__).resolve().parents[3] / "shared/corpus/cases/boot-02-failed-units-lxd-vault/sosreport"
PACK = load_pack()


class FakeLive(Source):
    """A host with systemd as PID 1 (this machine has none): canned outputs per command."""

    kind = "local"

    live = True

    def __init__(self, outputs: dict[str, Result]):
        self.outputs = outputs
        self.calls: list[str] = []

    def run(self, argv: Sequence[str], timeout: float | None = None, sos_paths: Sequence[str] = ()) -> Result:
        name = " ".join(argv)
        self.calls.append(name)
        for prefix, result in self.outputs.items():
            if name.startswith(prefix):
                return Result(result.status, name, result.text, result.detail, result.rc)
        return Result(ABSENT, name, detail="not here")

    def read(self, path: str, sos_paths: Sequence[str] = ()) -> Result:
        return Result(ABSENT, path, detail="no such file")

    def listdir(self, path: str) -> list[str]:
        return []


def pollinate_show_block() -> str:
    """What `systemctl show --property=... -- pollinate.service` prints: just those keys."""
    block = next(b for b in SHOW.split("\n\n") if "Id=pollinate.service" in b)
    keep = set(systemd_units.PROPERTIES)
    return "\n".join(l for l in block.splitlines() if l.split("=", 1)[0] in keep) + "\n"


def facts_of(base: FactBase, kind: str) -> list[dict]:
    return [f.fields for f in base.of_kind(kind)]


def test_sosreport_failed_unit_with_result_restarts_and_last_lines():
    src = SosreportSource(str(SOS))
    ctx = Context(src, FactBase(), Options(), interesting=PACK_INTERESTING)
    for module in (journal, boots, systemd_units):
        module.collect(ctx)
    [failed] = facts_of(ctx.facts, "failed_unit")
    assert failed["unit"] == "pollinate.service"
    assert (failed["load"], failed["active"], failed["sub"]) == ("loaded", "failed", "failed")
    assert failed["description"] == "Pollinate to seed the pseudo random number generator"
    assert failed["result"] == "exit-code" and failed["restarts"] == 0
    assert failed["last_log"] == "pollinate.service: Failed with result 'exit-code'."
    assert failed["last_lines"].splitlines()[0] == "client curl: (6) Could not resolve host: entropy.ubuntu.com"
    [listing] = facts_of(ctx.facts, "unit_listing")
    assert listing["failed"] == 1 and listing["source"] == "sos_commands/systemd/systemctl_list-units_--failed"
    # every service is in systemctl_show_service_--all; only the wanted one becomes a fact
    [props] = facts_of(ctx.facts, "unit_props")
    assert props["unit"] == "pollinate.service" and props["ident"] == "pollinate"
    assert props["after_network_online"] is True and props["after_nss_lookup"] is False
    assert props["wants_network_online"] is False
    assert props["TimeoutStopUSec"] == "1min 30s" and props["LimitNOFILE"] == "524288"
    prov = next(ctx.facts.of_kind("unit_props")).source
    assert prov.name == "sos_commands/systemd/systemctl_show_service_--all"


def PACK_INTERESTING(message: str) -> bool:
    return any(p.regex.search(message) for p in PACK.symptom_patterns())


def test_sosreport_pipeline_finds_the_failed_unit_and_its_dns_ordering():
    base = collect(SosreportSource(str(SOS)), PACK)
    analysis = analyse(base, PACK)
    rules = {f.rule: f for f in analysis.findings}
    assert set(rules) >= {"failed-units", "service-start-before-dns"}
    dns = rules["service-start-before-dns"]
    assert dns.group == {"p.unit": "pollinate.service", "b.boot": 0}
    assert "not After=nss-lookup.target" in dns.explanation
    assert "Could not resolve host: entropy.ubuntu.com" in dns.explanation
    assert rules["failed-units"].summary == "1 unit(s) failed: pollinate.service"
    assert any(s["command"].startswith("systemctl status --no-pager -l pollinate.service")
               for s in rules["failed-units"].steps)


def test_live_json_listing_and_show_properties():
    listing = ('[{"unit":"pollinate.service","load":"loaded","active":"failed","sub":"failed",'
               '"description":"Pollinate to seed the pseudo random number generator"}]\n')
    src = FakeLive({"systemctl list-units --failed --all --output=json": Result(OK, "", listing, rc=0),
                    "systemctl show --property=": Result(OK, "", pollinate_show_block(), rc=0),
                    "systemctl list-unit-files": Result(OK, "", "UNIT FILE STATE VENDOR PRESET\n"
                                                        "fstrim.timer enabled enabled\n", rc=0)})
    ctx = Context(src, FactBase(), Options())
    systemd_units.collect(ctx)
    [failed] = facts_of(ctx.facts, "failed_unit")
    assert failed["unit"] == "pollinate.service" and failed["result"] == "exit-code"
    assert failed["restarts"] == 0
    show_call = next(c for c in src.calls if c.startswith("systemctl show"))
    assert show_call.endswith("-- pollinate.service")
    assert "LimitNOFILE" in show_call and "ExecStart" in show_call
    [props] = facts_of(ctx.facts, "unit_props")
    assert props["ident"] == "pollinate" and props["after_nss_lookup"] is False
    assert facts_of(ctx.facts, "unit_file")[0]["enabled"] is True
    # the plain-text command is not needed when JSON worked
    assert not [c for c in src.calls if "--plain" in c]


def test_live_old_systemd_prints_a_table_for_output_json():
    table = ("  UNIT           LOAD   ACTIVE SUB    DESCRIPTION\n"
             "● nginx.service  loaded failed failed A high performance web server\n\n"
             "LOAD   = Reflects whether the unit definition was properly loaded.\n\n"
             "1 loaded units listed.\n")
    plain = "nginx.service loaded failed failed A high performance web server\n"
    src = FakeLive({"systemctl list-units --failed --all --output=json": Result(OK, "", table, rc=0),
                    "systemctl list-units --failed --all --plain": Result(OK, "", plain, rc=0)})
    ctx = Context(src, FactBase(), Options())
    systemd_units.collect(ctx)
    [failed] = facts_of(ctx.facts, "failed_unit")
    assert failed["unit"] == "nginx.service" and failed["text"] == plain.strip()
    assert "systemctl list-units --failed --all --plain --no-legend --no-pager" in src.calls


def test_no_systemd_gives_a_status_and_no_listing():
    err = Result(FAILED, "", "", "exit status 1: System has not been booted with systemd as init "
                 "system (PID 1). Can't operate.", rc=1)
    src = FakeLive({"systemctl": err})
    ctx = Context(src, FactBase(), Options())
    systemd_units.collect(ctx)
    assert not facts_of(ctx.facts, "unit_listing") and not facts_of(ctx.facts, "failed_unit")
    statuses = [f for f in facts_of(ctx.facts, "collector_status") if f["collector"] == "systemd_units"]
    assert statuses[0]["status"] == "failed" and "judged from the journal" in statuses[0]["hint"]


def test_show_parsing_and_ordering_helpers():
    blocks = systemd_units.parse_show(SHOW)
    assert [b["Id"] for b in blocks] == ["pollinate.service", "containerd.service"]
    containerd = blocks[1]
    assert systemd_units.ordering(containerd) == {"after_network_online": False,
                                                  "after_nss_lookup": False,
                                                  "wants_network_online": False}
    assert systemd_units.syslog_ident(containerd) == "containerd"
    assert systemd_units.syslog_ident({"SyslogIdentifier": "web", "ExecStart": "{ path=/x/y ; }"}) == "web"


@pytest.mark.skipif(not CORPUS_VAULT.is_dir(), reason="shared corpus not present")
def test_corpus_lxd_container_failed_units_carry_their_history():
    base = collect(SosreportSource(str(CORPUS_VAULT)), PACK)
    failed = {f["unit"]: f for f in facts_of(base, "failed_unit")}
    assert set(failed) == {"openipmi.service", "systemd-remount-fs.service", "multipathd.socket"}
    assert failed["openipmi.service"]["result"] == "exit-code"
    assert "Control process exited" in failed["openipmi.service"]["last_lines"]
    [finding] = [f for f in analyse(base, PACK).findings if f.rule == "failed-units"]
    assert finding.severity == "warning"
    assert "containers" in finding.explanation


def test_exec_properties_become_command_lines():
    # systemd 252 (Debian 12), `systemctl show -p ExecStop` of the lab's hung-stop service
    value = ("{ path=/bin/sleep ; argv[]=/bin/sleep 100000 ; ignore_errors=no ; start_time=[n/a] ; "
             "stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }")
    assert systemd_units.command_lines(value) == "/bin/sleep 100000"
    two = ("{ path=/usr/sbin/nginx ; argv[]=/usr/sbin/nginx -s quit ; ignore_errors=yes ; start_time=[n/a] ; "
           "stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n"
           "{ path=/bin/sleep ; argv[]=/bin/sleep 1 ; ignore_errors=no ; start_time=[n/a] ; "
           "stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }")
    assert systemd_units.command_lines(two) == "/usr/sbin/nginx -s quit ; /bin/sleep 1"
    assert systemd_units.command_lines("") == ""
