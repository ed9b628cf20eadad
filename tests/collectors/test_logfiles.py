"""The logfiles collector: syslog files and dmesg, without repeating what the journal holds."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers_journal as hj  # noqa: E402

from hostmedic.collectors import Context, Options, journal, logfiles, logtext  # noqa: E402
from hostmedic.engine.facts import FactBase  # noqa: E402
from hostmedic.engine.sources import LocalSource, Result, SosreportSource  # noqa: E402


def run(source, *modules) -> FactBase:
    ctx = Context(source, FactBase(), Options())
    for module in modules:
        module.collect(ctx)
    return ctx.facts


def status(facts: FactBase, collector: str = "logfiles") -> list[dict]:
    return [f.fields for f in facts.of_kind("collector_status") if f.get("collector") == collector]


def logs(facts: FactBase, stream: str | None = None) -> list:
    return [f for f in facts.of_kind("log") if stream is None or f.get("stream") == stream]


def sos(tmp_path: Path, **kw) -> SosreportSource:
    return SosreportSource(str(hj.make_sosreport(tmp_path, hj.sos_files(**kw))))


def test_syslog_boots_times_and_fields(tmp_path: Path) -> None:
    facts = run(sos(tmp_path, full=False, pair=False, syslog=True), logfiles)
    syslog = logs(facts, "syslog")
    # boots split on the kernel's "Linux version" line: three in the file
    assert sorted({f.get("boot") for f in syslog}) == [-2, -1, 0]
    ok = [f for f in syslog if f.get("message") == "nfs: server 10.77.0.1 OK"][0]
    assert ok.get("boot") == -2 and ok.get("t") == pytest.approx(1732120831.87)  # RFC 3339, UTC
    assert (ok.get("ident"), ok.get("host")) == ("kernel", "hm-client")
    assert ok.source.origin == "file" and ok.source.name == "var/log/syslog" and ok.source.line == 5
    logind = [f for f in syslog if f.get("message") == "System is rebooting."][0]
    assert (logind.get("ident"), logind.get("pid"), logind.get("boot")) == ("systemd-logind", 230, -1)
    # rsyslogd and sshd are not story identifiers, and no pattern asked for them
    assert not [f for f in syslog if f.get("ident") in ("rsyslogd", "sshd")]
    # kern.log repeats syslog's kernel lines: all skipped
    assert not [f for f in syslog if f.source.name == "var/log/kern.log"]
    [st] = status(facts)
    assert st["status"] == "ok"
    assert "var/log/kern.log: 12 lines, 0 kept" in st["detail"]
    assert "12 lines skipped" in st["detail"]


def test_dedup_against_the_journal(tmp_path: Path) -> None:
    facts = run(sos(tmp_path, syslog=True, dmesg=True), journal, logfiles)
    assert len(logs(facts, "journal")) == 23
    syslog = logs(facts, "syslog")
    # only the older boot the journal no longer has is added from syslog
    assert [(f.get("boot"), f.get("message")[:30]) for f in syslog] == [
        (-2, "Linux version 6.1.0-27-amd64 ("),
        (-2, "Command line: BOOT_IMAGE=/boot"),
        (-2, "nfs: server 10.77.0.1 not resp"),
        (-2, "nfs: server 10.77.0.1 OK"),
    ]
    dmesg = logs(facts, "dmesg")
    assert [f.get("message") for f in dmesg] == [
        "ACPI: button: Power Button [PWRF]",
        "virtio_blk virtio2: [vda] 4194304 512-byte logical blocks (2.15 GB/2.00 GiB)"]
    # dmesg times: boot start = `date` 09:30:12 minus `uptime` 5 min
    assert dmesg[0].get("t") == pytest.approx(1732181412.0 - 300 + 0.912345)
    assert dmesg[0].get("boot") == 0 and dmesg[0].source.name == "sos_commands/kernel/dmesg"
    assert dmesg[0].source.origin == "command" and dmesg[0].source.line == 3
    [st] = status(facts)
    # syslog: 13 of its 17 kept lines are in the journal; kern.log: all 12; dmesg: 4 of 6
    assert st["detail"].endswith("29 lines skipped as already added from an earlier log")
    assert "var/log/syslog: 22 lines, 4 kept" in st["detail"]
    assert "sos_commands/kernel/dmesg: 6 lines, 2 kept" in st["detail"]


def _line(message: str, lineno, t: float) -> "logtext.Line":
    return logtext.Line(message, lineno, {"t": t, "ident": "kernel"})


T0 = 1732180200.0
NFS = "nfs: server 10.77.0.1 not responding, still trying"


def test_pairing_measures_the_clock_offset() -> None:
    """syslog written in a zone one hour east of UTC, read as UTC: 3600 s off the journal."""
    ctx = Context(LocalSource(), FactBase(), Options())
    for message, t in [("Linux version 6.1.0-27-amd64", T0), (NFS, T0 + 120),
                       ("INFO: task dd:352 blocked for more than 20 seconds.", T0 + 150), (NFS, T0 + 400)]:
        logtext.add_log_line(ctx, "journal", _line(message, None, t), "journal", "journal of this host")
    later = [
        _line(NFS, 1, T0 - 86400 + 3600),  # a day before: another event, kept
        _line("Linux version 6.1.0-27-amd64", 2, T0 + 3600),
        _line(NFS, 3, T0 + 120 + 3600),
        _line("INFO: task dd:352 blocked for more than 20 seconds.", 4, T0 + 150 + 3600),
        _line("nfs:  server 10.77.0.1 not responding,#012still trying", 5, T0 + 400 + 3600),  # rsyslog's form
        _line(NFS, 6, T0 + 1000 + 3600),  # the journal lost this one: kept
    ]
    added, skipped = logfiles.add_deduplicated(ctx, "syslog", later, "file", "/var/log/syslog")
    assert (added, skipped) == (2, 4)
    assert [f.source.line for f in logs(ctx.facts, "syslog")] == [1, 6]


def test_pairing_without_anchors_allows_a_zone_offset() -> None:
    ctx = Context(LocalSource(), FactBase(), Options())
    for t in (T0, T0 + 60):
        logtext.add_log_line(ctx, "journal", _line(NFS, None, t), "journal", "journal of this host")
    later = [_line(NFS, 1, T0 - 20 * 3600), _line(NFS, 2, T0 - 5 * 3600), _line(NFS, 3, T0 - 5 * 3600 + 60)]
    added, skipped = logfiles.add_deduplicated(ctx, "syslog", later, "file", "/var/log/syslog")
    assert (added, skipped) == (1, 2)
    assert [f.source.line for f in logs(ctx.facts, "syslog")] == [1]


def test_no_log_files_in_sosreport(tmp_path: Path) -> None:
    facts = run(sos(tmp_path, full=False, pair=False), logfiles)
    [st] = status(facts)
    assert st["status"] == "absent" and "journal" in st["hint"]
    assert not logs(facts)


class FakeLocal(LocalSource):
    """This host as a test wants it: some files, a dmesg that is denied."""

    def __init__(self, files: dict[str, Result], dmesg: Result):
        super().__init__()
        self.files, self.dmesg = files, dmesg

    def read(self, path, sos_paths=()):
        return self.files.get(path, Result("absent", path, detail="no such file"))

    def run(self, argv, timeout=None, sos_paths=()):
        return self.dmesg if argv[0] == "dmesg" else Result("missing", argv[0])


def test_live_denied_dmesg_and_traditional_messages() -> None:
    text = ("Nov 21 09:12:00 hm-client kernel: nfs: server 10.77.0.1 not responding, still trying\n"
            "Nov 21 09:12:30 hm-client kernel: [  150.710000] INFO: task dd:352 blocked for more than 20 seconds.\n")
    source = FakeLocal(
        {"/var/log/messages": Result("ok", "/var/log/messages", text=text),
         "/var/log/syslog": Result("denied", "/var/log/syslog", detail="Permission denied")},
        Result("denied", "dmesg", rc=1, detail="exit status 1: dmesg: read kernel buffer failed: "
                                              "Operation not permitted"))
    facts = run(source, logfiles)
    by_status = {s["status"]: s for s in status(facts)}
    assert set(by_status) == {"ok", "denied"} and len(status(facts)) == 3
    denied = [s for s in status(facts) if s["status"] == "denied"]
    assert {s["what"] for s in denied} == {"/var/log/syslog", "dmesg"}
    assert all(s["hint"] for s in denied)
    messages = logs(facts, "syslog")
    assert [f.get("message") for f in messages] == [
        "nfs: server 10.77.0.1 not responding, still trying",
        "INFO: task dd:352 blocked for more than 20 seconds."]  # kernel time stamp dropped
    assert messages[0].source.name == "/var/log/messages"


def test_this_host_completes_with_honest_status() -> None:
    facts = run(LocalSource(), journal, logfiles)
    sts = status(facts)
    assert sts, "logfiles recorded no status"
    for st in sts:
        assert st["status"] in ("ok", "absent", "denied", "failed", "timeout")
        if st["status"] != "ok":
            assert st["hint"]
    if any(st["status"] == "ok" and "dmesg" in st["what"] for st in sts):
        assert logs(facts, "dmesg")
