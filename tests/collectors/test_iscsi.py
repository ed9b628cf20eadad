"""The iSCSI collector: iscsiadm -m session -P 3, live and from sosreports."""
from __future__ import annotations

import shutil
from pathlib import Path


from hostmedic.collectors import iscsi
from hostmedic.engine.analysis import analyse
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import LocalSource, SosreportSource

ISCSI = Path(__file__).resolve().parents[1] / "data" / "storage" / "iscsi"
PACK = load_pack()


def read(name: str) -> str:
    return (ISCSI / name).read_text()


def sessions(ctx):
    return [f.fields for f in ctx.facts.facts if f.kind == "iscsi_session"]


def statuses(ctx):
    return [f.fields for f in ctx.facts.facts if f.kind == "collector_status"
            and f.fields["collector"] == "iscsi"]


def sos_tree(tmp_path: Path, content: str | None) -> Path:
    root = tmp_path / "sosreport-host"
    root.mkdir()
    (root / "version.txt").write_text("sosreport: 4.5.6\n")
    if content is not None:
        (root / "sos_commands" / "iscsi").mkdir(parents=True)
        (root / "sos_commands" / "iscsi" / "iscsiadm_-m_session_-P_3").write_text(content)
    else:
        (root / "sos_commands" / "host").mkdir(parents=True)
        (root / "sos_commands" / "host" / "hostname").write_text("h\n")
    return root


def test_parse_two_targets_one_waiting_for_transport():
    ok, bad = iscsi.parse_sessions(read("iscsiadm_-m_session_-P_3.one-failed"))
    assert (ok["target"], ok["portal"], ok["sid"], ok["connection_state"], ok["session_state"],
            ok["disks"], ok["disk_states"]) == ("iqn.2001-04.com.zfs-0-0-compute-0-2-0-vol",
                                                "10.2.20.254:3260,1", 49, "LOGGED IN", "LOGGED_IN",
                                                "sdb", "sdb running")
    assert (bad["sid"], bad["connection_state"], bad["session_state"], bad["internal_state"],
            bad["disk_states"]) == (69, "TRANSPORT WAIT", "FREE", "REOPEN", "sdc transport-offline")


def test_sosreport_sessions_and_the_rule(tmp_path, make_ctx):
    ctx = make_ctx(SosreportSource(str(sos_tree(tmp_path, read("iscsiadm_-m_session_-P_3.one-failed")))))
    iscsi.collect(ctx)
    assert [s["sid"] for s in sessions(ctx)] == [49, 69]
    prov = [f.source for f in ctx.facts.facts if f.kind == "iscsi_session"][1]
    assert prov.name == "sos_commands/iscsi/iscsiadm_-m_session_-P_3" and prov.line == 53  # its "Current Portal" line
    (finding,) = analyse(ctx.facts, PACK, only=["iscsi-session-error"]).findings
    assert "TRANSPORT WAIT" in finding.explanation and "69" in finding.summary


def test_sosreport_of_a_host_without_sessions(tmp_path, make_ctx):
    ctx = make_ctx(SosreportSource(str(sos_tree(tmp_path, read("iscsiadm_-m_session_-P_3.no-sessions")))))
    iscsi.collect(ctx)
    assert sessions(ctx) == []
    assert statuses(ctx)[-1]["status"] == "ok" and "no active" in statuses(ctx)[-1]["detail"]


def test_sosreport_without_open_iscsi(tmp_path, make_ctx):
    ctx = make_ctx(SosreportSource(str(sos_tree(tmp_path, None))))
    iscsi.collect(ctx)
    (st,) = statuses(ctx)
    assert st["status"] == "not applicable" and st["hint"]


def test_this_machine(make_ctx):
    """Real iscsiadm when installed: no session prints "iscsiadm: No active sessions." and
    exits 21, which is no error."""
    ctx = make_ctx(LocalSource())
    iscsi.collect(ctx)
    (st,) = statuses(ctx)
    if shutil.which("iscsiadm") is None:
        assert st["status"] == "not applicable"
    elif not sessions(ctx):
        assert st["status"] == "ok" and "no active" in st["detail"]


def test_without_iscsiadm_installed(make_ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    ctx = make_ctx(LocalSource())
    iscsi.collect(ctx)
    (st,) = statuses(ctx)
    assert st["status"] == "not applicable" and "not installed" in st["detail"] and st["hint"]
