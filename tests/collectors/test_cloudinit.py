"""The cloudinit collector: cloud-init's logs and status, live and from sos's cloud_init plugin,
and the cloud-init-metadata-unreachable rule on them."""
from __future__ import annotations

from pathlib import Path

import pytest

from hostmedic.collectors import Context, Options, cloudinit, journal
from hostmedic.engine.analysis import analyse, collect
from hostmedic.engine.facts import FactBase
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import LocalSource, SosreportSource

DATA = Path(__file__).resolve().parents[1] / "data" / "cloudinit"
PACK = load_pack()


def interesting(message: str) -> bool:
    return any(p.regex.search(message) for p in PACK.symptom_patterns())


def run(source, *modules) -> FactBase:
    ctx = Context(source, FactBase(), Options(), interesting=interesting)
    for module in modules:
        module.collect(ctx)
    return ctx.facts


def cloud_logs(base: FactBase) -> list:
    return [f for f in base.of_kind("log") if f.get("stream") == "cloud-init"]


def test_healthy_openstack_guest_keeps_only_what_a_rule_wants():
    base = run(SosreportSource(str(DATA / "sos-k8s")), journal, cloudinit)
    logs = cloud_logs(base)
    # 70 DEBUG lines; only the successful metadata reads are kept (a rule needs them: they
    # cancel an earlier failure)
    text = (DATA / "sos-k8s/var/log/cloud-init.log").read_text()
    assert len(logs) == text.count("url_helper.py[DEBUG]: Read from http://169.254.169.254/") == 10
    read = logs[0]
    assert read.get("message")[26:] == \
        "url_helper.py[DEBUG]: Read from http://169.254.169.254/openstack (200, 94b) after 1 attempts"
    assert (read.get("ident"), read.get("module"), read.get("level"), read.get("priority")) == \
        ("cloud-init", "url_helper.py", "DEBUG", 7)
    assert read.get("t") == pytest.approx(1644605894.227)  # 2022-02-11 18:58:14,227 UTC
    assert read.get("boot") == 0 and read.source.name == "var/log/cloud-init.log" and read.source.line == 49
    [status] = [f.fields for f in base.of_kind("cloud_init_status")]
    assert status["status"] == "done" and status["datasource"] == "DataSourceOpenStackLocal [net,ver=2]"
    assert status["errors"] == 0
    assert not [f for f in analyse(base, PACK).findings if f.rule == "cloud-init-metadata-unreachable"]


def test_metadata_unreachable_boot():
    base = run(SosreportSource(str(DATA / "sos-nometadata")), journal, cloudinit)
    logs = cloud_logs(base)
    by_msg = {f.get("message").split("\n")[0][26:]: f for f in logs}
    # two runs of cloud-init: the older one read its metadata, the last one did not;
    # runs are matched to the journal's boots by time
    assert by_msg["url_helper.py[DEBUG]: Read from http://169.254.169.254/2009-04-04/meta-data/instance-id "
                  "(200, 19b) after 1 attempts"].get("boot") == -1
    warn = [f for f in logs if f.get("level") == "WARNING"]
    assert {f.get("boot") for f in warn} == {0}
    # a traceback stays with its warning; the output log's copy without it is not added again
    getting = [f for f in logs if "Getting data from" in f.get("message")]
    assert len(getting) == 1 and "Traceback (most recent call last):" in getting[0].get("message")
    # the CRITICAL line is already in the journal (cloud-init's stdout): not added twice
    assert not [f for f in logs if "Giving up on md" in f.get("message")]
    assert [f for f in base.of_kind("log") if f.get("stream") == "journal" and "Giving up" in f.get("message")]
    [status] = [f.fields for f in base.of_kind("cloud_init_status")]
    assert status["datasource"] == "DataSourceNone"
    findings = [f for f in analyse(base, PACK).findings if f.rule == "cloud-init-metadata-unreachable"]
    assert len(findings) == 1
    finding = findings[0]
    assert finding.severity == "error"
    assert "Giving up on md from" in finding.explanation
    assert "2 call(s) failed" in finding.explanation
    assert "datasource DataSourceNone" in finding.explanation


@pytest.mark.parametrize("text,fields", [
    ("status: done\n", {"status": "done", "errors": 0}),
    # cloud-init < 22: detail on the next line
    ("status: done\ntime: Fri, 11 Feb 2022 18:59:36 +0000\ndetail:\nDataSourceOpenStackLocal [net,ver=2]\n",
     {"status": "done", "detail": "DataSourceOpenStackLocal [net,ver=2]", "errors": 0}),
    # cloud-init >= 23.4: extended status, boot status code, recoverable errors by level
    ("status: done\nextended_status: degraded done\nboot_status_code: enabled-by-generator\n"
     "last_update: Thu, 01 Jan 1970 00:01:29 +0000\ndetail: DataSourceEc2Local\nerrors: []\n"
     "recoverable_errors:\nWARNING:\n\t- Calling 'http://[fd00:ec2::254]/latest/api/token' failed [0/240s]: "
     "request error\n",
     {"status": "done", "extended_status": "degraded done", "boot_status_code": "enabled-by-generator",
      "last_update": "Thu, 01 Jan 1970 00:01:29 +0000", "detail": "DataSourceEc2Local", "errors": 0,
      "recoverable_errors": 1,
      "recoverable_text": "Calling 'http://[fd00:ec2::254]/latest/api/token' failed [0/240s]: request error"}),
    ("status: error\nerrors:\n\t- ('init', ModuleNotFoundError(\"No module named 'nonexistent'\"))\n",
     {"status": "error", "errors": 1,
      "error_text": "('init', ModuleNotFoundError(\"No module named 'nonexistent'\"))"}),
])
def test_parse_status(text, fields):
    assert cloudinit.parse_status(text) == fields


def test_syslog_routed_log_and_runs_without_a_journal():
    text = ("Nov 21 10:00:01 vm7 [CLOUDINIT] util.py[DEBUG]: Cloud-init v. 20.4 running 'init-local' at x\n"
            "Nov 21 10:00:09 vm7 [CLOUDINIT] url_helper.py[WARNING]: Calling 'http://169.254.169.254/openstack' "
            "failed [0/-1s]: request error\n")
    lines = cloudinit.parse_cloud_init_log(text, 1767225599.0)
    assert [(l.fields["level"], l.fields["boot"]) for l in lines] == [("DEBUG", 0), ("WARNING", 0)]
    assert lines[1].fields["t"] == pytest.approx(1763719209.0)  # Nov 21 2025 (year from the reference)


def test_not_a_cloud_init_host(tmp_path: Path):
    base = run(LocalSource(root=str(tmp_path)), cloudinit)
    [status] = [f.fields for f in base.of_kind("collector_status")]
    assert status["status"] == "absent" and "does not run cloud-init" in status["hint"]
