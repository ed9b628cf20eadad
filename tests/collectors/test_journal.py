"""The journal collector: real journal files (systemd-journal-remote), sosreport text, this host."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers_journal as hj  # noqa: E402

from hostmedic.collectors import Context, Options, journal, sostime  # noqa: E402
from hostmedic.engine.facts import FactBase  # noqa: E402
from hostmedic.engine.sources import LocalSource, Result, SosreportSource  # noqa: E402

needs_remote = pytest.mark.skipif(hj.journal_remote() is None,
                                  reason="systemd-journal-remote is not installed")
try:
    from systemd import journal as sd_journal  # noqa: F401
    HAVE_SYSTEMD_PYTHON = True
except ImportError:
    HAVE_SYSTEMD_PYTHON = False
needs_module = pytest.mark.skipif(not HAVE_SYSTEMD_PYTHON, reason="systemd-python is not installed")


def run(source, options=None, everything=True) -> FactBase:
    ctx = Context(source, FactBase(), options or Options(),
                  interesting=(lambda message: True) if everything else (lambda message: False))
    journal.collect(ctx)
    return ctx.facts


def statuses(facts: FactBase, collector: str = "journal") -> list[dict]:
    return [f.fields for f in facts.of_kind("collector_status") if f.get("collector") == collector]


def logs(facts: FactBase) -> list:
    return list(facts.of_kind("log"))


def by_message(facts: FactBase, text: str):
    hits = [f for f in logs(facts) if f.get("message") == text]
    assert len(hits) == 1, f"{text!r}: {len(hits)} facts"
    return hits[0]


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    made = hj.build_journal(tmp_path / "jdir" / "hm-client.journal", hj.two_boots_export())
    return made[0]


# --------------------------------------------------------------------------- real journal files
@needs_remote
@needs_module
def test_journal_file_two_boots(journal_file: Path) -> None:
    facts = run(LocalSource(), Options(journal_files=[str(journal_file)]))
    desc = f"journal file {journal_file}"

    boots = sorted(facts.of_kind("journal_boot"), key=lambda f: f.get("offset"))
    assert [(b.get("boot_id"), b.get("offset")) for b in boots] == [(hj.BOOT_PREV, -1), (hj.BOOT_CUR, 0)]
    assert boots[0].get("first_t") == hj.PREV_START
    assert boots[0].get("last_t") == pytest.approx(hj.PREV_START + 260.56)
    assert boots[1].get("first_t") == hj.CUR_START
    assert all(b.get("read") for b in boots)
    assert boots[0].source.origin == "journal" and boots[0].source.name == desc

    [status] = statuses(facts)
    assert status["status"] == "ok"
    assert status["detail"].startswith("2 boots, 29 entries read")  # 24 + 5 odd ones
    assert status["what"] == desc

    # The previous boot was cut mid-shutdown: its last line is the SIGKILL, no "Shutting down."
    prev = [f for f in logs(facts) if f.get("boot") == -1]
    assert prev[-1].get("message") == "hm-w4.service: Killing process 302 (sleep) with signal SIGKILL."
    assert not any(f.get("message") in ("Shutting down.", "Journal stopped") for f in prev)
    assert {f.get("boot_id") for f in prev} == {hj.BOOT_PREV}

    stopping = by_message(facts, "Stopping hm-w4.service - HM worker 4...")
    assert stopping.fields == {
        "t": pytest.approx(hj.PREV_START + 200.52), "ident": "systemd", "pid": 1,
        "unit": "hm-w4.service", "priority": 6, "host": "hm-client", "boot": -1,
        "boot_id": hj.BOOT_PREV, "message": "Stopping hm-w4.service - HM worker 4...",
        "stream": "journal"}
    assert stopping.source.origin == "journal" and stopping.source.name == desc
    assert stopping.source.line is None and stopping.source.boot == hj.BOOT_PREV
    assert stopping.source.time == pytest.approx(hj.PREV_START + 200.52)

    timeout = by_message(facts, "hm-w4.service: Stopping timed out. Terminating.")
    assert timeout.get("priority") == 4 and timeout.get("unit") == "hm-w4.service"
    # UNIT (set by PID 1) wins over _SYSTEMD_UNIT=init.scope; USER_UNIT over user@0.service
    assert by_message(facts, "Unmounting mnt-nfs.mount - /mnt/nfs...").get("unit") == "mnt-nfs.mount"
    assert by_message(facts, "Listening on dbus.socket - D-Bus User Message Bus Socket.").get("unit") == "dbus.socket"
    kernel = by_message(facts, "nfs: server 10.77.0.1 not responding, still trying")
    assert (kernel.get("ident"), kernel.get("pid"), kernel.get("priority")) == ("kernel", None, 4)
    sshd = by_message(facts, "Server listening on 0.0.0.0 port 22.")
    assert (sshd.get("ident"), sshd.get("pid"), sshd.get("unit"), sshd.get("boot")) == ("sshd", 402, "ssh.service", 0)
    corrupted = [f for f in logs(facts) if "corrupted or uncleanly shut down" in f.get("message")]
    assert corrupted[0].get("ident") == "systemd-journald" and corrupted[0].get("boot_id") == hj.BOOT_CUR


@needs_remote
@needs_module
def test_odd_entries_are_coerced(journal_file: Path) -> None:
    facts = run(LocalSource(), Options(journal_files=[str(journal_file)]))
    odd = [f for f in logs(facts) if f.get("ident") == "hm-odd"][0]
    assert odd.get("message") == "bad byte \ufffd\ufffd in output"
    assert (odd.get("pid"), odd.get("unit"), odd.get("priority")) == (501, "hm-odd.service", 3)
    assert by_message(facts, "first copy").get("ident") == "hm-dup"
    assert not [f for f in logs(facts) if f.get("message") == "second copy"]
    balloon = by_message(facts, "virtio_balloon virtio3: Out of puff! Can't get 1 pages")
    assert balloon.get("ident") == "kernel"  # _TRANSPORT=kernel, no SYSLOG_IDENTIFIER
    legacy = by_message(facts, "line one\nline two")
    assert legacy.get("pid") == 777  # SYSLOG_PID when there is no _PID
    assert not [f for f in logs(facts) if f.get("ident") == "hm-nomsg"]  # no MESSAGE: skipped


@needs_remote
@needs_module
def test_journal_dir_and_boots_option(journal_file: Path) -> None:
    directory = str(journal_file.parent)
    facts = run(LocalSource(), Options(journal_dir=directory, boots=1))
    boots = {b.get("offset"): b for b in facts.of_kind("journal_boot")}
    assert set(boots) == {-1, 0}  # every boot in the files is listed ...
    assert boots[-1].get("read") is False and boots[0].get("read") is True
    assert {f.get("boot") for f in logs(facts)} == {0}  # ... only the last one is read
    [status] = statuses(facts)
    assert status["status"] == "ok" and status["what"] == f"journal files in {directory}"
    assert "1 boot," in status["detail"] and "2 boots in the files" in status["detail"]


@needs_remote
@needs_module
def test_keep_line_filter_applies(journal_file: Path) -> None:
    facts = run(LocalSource(), Options(journal_files=[str(journal_file)]), everything=False)
    messages = {f.get("message") for f in logs(facts)}
    assert "Server listening on 0.0.0.0 port 22." not in messages  # sshd, info: not kept
    assert "hm-w4.service: Stopping timed out. Terminating." in messages  # systemd: the story
    assert "first copy" in messages  # warning priority


# --------------------------------------------------------------------------- damaged, absent, denied
@needs_module
def test_garbage_journal_file_gives_status(tmp_path: Path) -> None:
    bad = tmp_path / "system.journal"
    bad.write_bytes(os.urandom(8192))
    facts = run(LocalSource(), Options(journal_files=[str(bad)]))
    [status] = statuses(facts)
    assert status["status"] == "failed"
    assert "not a journal file" in status["detail"] and status["hint"]
    assert not logs(facts)


@needs_module
def test_garbage_in_journal_dir_gives_status(tmp_path: Path) -> None:
    (tmp_path / "system.journal").write_bytes(b"LPKSHHRH" + os.urandom(4000))
    facts = run(LocalSource(), Options(journal_dir=str(tmp_path)))
    [status] = statuses(facts)
    assert status["status"] == "failed" and "1 journal file" in status["detail"]


@needs_remote
@needs_module
def test_truncated_file_next_to_good_one(tmp_path: Path, journal_file: Path) -> None:
    cut = tmp_path / "cut.journal"
    cut.write_bytes(journal_file.read_bytes()[:20000])
    facts = run(LocalSource(), Options(journal_files=[str(cut), str(journal_file)]))
    by_status = {s["status"]: s for s in statuses(facts)}
    assert set(by_status) == {"failed", "ok"}
    assert by_status["failed"]["what"] == f"journal file {cut}"
    assert by_status["ok"]["what"] == f"journal file {journal_file}"
    assert len(list(facts.of_kind("journal_boot"))) == 2


def test_missing_path_is_absent(tmp_path: Path) -> None:
    facts = run(LocalSource(), Options(journal_dir=str(tmp_path / "nope")))
    [status] = statuses(facts)
    assert status["status"] in ("absent", "missing")  # missing when systemd-python is not here
    assert status["hint"]


def _fake_module(error: Exception):
    def reader(**_kw):
        raise error
    return types.SimpleNamespace(DEFAULT_CONVERTERS={}, Reader=reader)


def test_permission_denied_gives_status(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(journal, "_import_journal",
                        lambda: _fake_module(PermissionError(13, "Permission denied")))
    facts = run(LocalSource(), Options(journal_dir=str(tmp_path)))
    [status] = statuses(facts)
    assert status["status"] == "denied" and "systemd-journal" in status["hint"]


@needs_remote
@needs_module
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run a reader as nobody")
def test_permission_denied_for_real(journal_file: Path) -> None:
    """The journal files are root's, mode 0600; the collector runs as nobody."""
    shared = Path(tempfile.mkdtemp(prefix="hm-journal-denied-"))
    try:
        shared.chmod(0o755)
        copy = shared / "system.journal"
        shutil.copyfile(journal_file, copy)
        copy.chmod(0o600)
        script = (
            "import json\n"
            "from hostmedic.collectors import Context, Options, journal\n"
            "from hostmedic.engine.facts import FactBase\n"
            "from hostmedic.engine.sources import LocalSource\n"
            "out = []\n"
            f"for opts in (Options(journal_dir={str(shared)!r}), Options(journal_files=[{str(copy)!r}])):\n"
            "    ctx = Context(LocalSource(), FactBase(), opts)\n"
            "    journal.collect(ctx)\n"
            "    out.append([f.fields for f in ctx.facts.of_kind('collector_status')])\n"
            "print(json.dumps(out))\n")
        proc = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120, cwd="/")
        assert proc.returncode == 0, proc.stderr
        by_dir, by_file = json.loads(proc.stdout)
        assert [s["status"] for s in by_dir] == ["denied"]
        assert "not readable by this user" in by_dir[0]["detail"]
        assert [s["status"] for s in by_file] == ["denied"]
        assert "systemd-journal" in by_file[0]["hint"]
    finally:
        shutil.rmtree(shared, ignore_errors=True)


class NoJournalctl(LocalSource):
    def run(self, argv, timeout=None, sos_paths=()):
        return Result("missing", " ".join(argv), detail=f"{argv[0]} is not installed")


def test_no_systemd_python_and_no_journalctl(monkeypatch) -> None:
    monkeypatch.setattr(journal, "_import_journal", lambda: None)
    facts = run(NoJournalctl())
    [status] = statuses(facts)
    assert status["status"] == "missing"
    assert "systemd-python" in status["detail"] and "python3-systemd" in status["hint"]


@needs_remote
@pytest.mark.skipif(not os.path.exists("/usr/bin/journalctl") and not os.path.exists("/bin/journalctl"),
                    reason="journalctl is not installed")
def test_no_systemd_python_falls_back_to_journalctl_text(monkeypatch, journal_file: Path) -> None:
    monkeypatch.setattr(journal, "_import_journal", lambda: None)
    facts = run(LocalSource(), Options(journal_files=[str(journal_file)]))
    [status] = statuses(facts)
    assert status["status"] == "ok" and "systemd-python" in status["detail"]
    boots = {b.get("offset"): b.get("boot_id") for b in facts.of_kind("journal_boot")}
    assert boots == {-1: hj.BOOT_PREV, 0: hj.BOOT_CUR}
    stop = by_message(facts, "Stopping hm-w4.service - HM worker 4...")
    # short-iso-precise carries the zone, so the time is exact whatever TZ journalctl used
    assert stop.get("t") == pytest.approx(hj.PREV_START + 200.52)
    assert (stop.get("ident"), stop.get("pid"), stop.get("boot")) == ("systemd", 1, -1)


class RemoteLike(LocalSource):
    """A source of another kind (as an SSH source will be): only commands, run "there"."""

    kind = "ssh"

    def __init__(self, journal_file: Path):
        super().__init__()
        self.journal_file = journal_file

    def run(self, argv, timeout=None, sos_paths=()):
        return super().run([*argv, f"--file={self.journal_file}"], timeout=timeout)


@needs_remote
@pytest.mark.skipif(not shutil.which("journalctl"), reason="journalctl is not installed")
def test_other_sources_read_journalctl_text(journal_file: Path) -> None:
    facts = run(RemoteLike(journal_file))
    [status] = statuses(facts)
    assert status["status"] == "ok" and status["what"] == "journalctl --no-pager"
    assert {f.get("boot_id") for f in logs(facts) if f.get("boot") == 0} == {hj.BOOT_CUR}
    assert by_message(facts, "System is rebooting.").source.origin == "command"


@needs_remote
@needs_module
def test_sos_with_copied_journal_reads_it(tmp_path: Path) -> None:
    """sos --all-logs copies /var/log/journal: the binary journal beats the text."""
    root = hj.make_sosreport(tmp_path, hj.sos_files())
    hj.build_journal(root / "var/log/journal" / hj.MACHINE_ID / "system.journal", hj.two_boots_export())
    facts = run(SosreportSource(str(root)))
    [status] = statuses(facts)
    assert status["status"] == "ok" and "entries read" in status["detail"]
    assert by_message(facts, "Stopping hm-w4.service - HM worker 4...").get("unit") == "hm-w4.service"
    assert {f.source.origin for f in logs(facts)} == {"journal"}


# --------------------------------------------------------------------------- this machine
def test_this_host_completes_with_honest_status() -> None:
    facts = run(LocalSource())
    [status] = statuses(facts)
    journal_files = [p for d in journal.SYSTEM_DIRS if os.path.isdir(d)
                     for _r, _d, files in os.walk(d) for p in files if ".journal" in p]
    if not HAVE_SYSTEMD_PYTHON and status["status"] == "missing":
        assert status["hint"]
    elif not journal_files:
        assert status["status"] == "absent"
        assert "--journal-dir" in status["hint"]
        assert not logs(facts)
    else:
        assert status["status"] in ("ok", "denied", "failed")


@pytest.mark.skipif(not shutil.which("journalctl"), reason="journalctl is not installed")
def test_this_host_without_systemd_python(monkeypatch) -> None:
    monkeypatch.setattr(journal, "_import_journal", lambda: None)
    facts = run(LocalSource())
    [status] = statuses(facts)
    assert status["hint"]
    assert status["status"] in ("ok", "absent", "denied", "failed")
    if status["status"] == "absent":
        assert "systemd-python" in status["detail"] and not logs(facts)


# --------------------------------------------------------------------------- sosreport text
def sos(tmp_path: Path, **kw) -> SosreportSource:
    extra = kw.pop("extra", None)
    name = kw.pop("name", "sosreport-hm-client-2024-11-21-qwerty")
    return SosreportSource(str(hj.make_sosreport(tmp_path, hj.sos_files(extra=extra, **kw), name=name)))


def test_sos_prefers_full_journal(tmp_path: Path) -> None:
    facts = run(sos(tmp_path))
    rel = "sos_commands/logs/journalctl_--no-pager"
    [status] = statuses(facts)
    assert status["status"] == "ok" and status["what"] == rel
    assert status["detail"] == f"2 boots, 24 lines read from {rel}"
    assert {f.source.name for f in logs(facts)} == {rel}  # one consistent set, no unit output

    boots = {b.get("offset"): b for b in facts.of_kind("journal_boot")}
    assert set(boots) == {-1, 0}
    assert boots[0].get("boot_id") == hj.BOOT_CUR  # from "-- Boot ... --" before it
    assert boots[-1].get("boot_id") is None  # journalctl names no boot before the first
    assert boots[-1].get("first_t") == hj.PREV_START and boots[-1].get("last_t") == hj.PREV_START + 260

    stop = by_message(facts, "Stopping hm-w4.service - HM worker 4...")
    assert (stop.get("ident"), stop.get("pid"), stop.get("boot"), stop.get("host")) == ("systemd", 1, -1, "hm-client")
    assert stop.get("t") == hj.PREV_START + 200  # year from sos_commands/date/date, seconds only
    assert stop.source.origin == "file" and stop.source.line == 13
    journald = [f for f in logs(facts) if f.get("ident") == "systemd-journald"]
    assert [f.get("pid") for f in journald] == [184, 180, 180]
    assert {f.get("boot_id") for f in logs(facts) if f.get("boot") == 0} == {hj.BOOT_CUR}


def test_sos_boot_pair_with_catalog(tmp_path: Path) -> None:
    facts = run(sos(tmp_path, full=False))
    [status] = statuses(facts)
    assert status["status"] == "ok" and status["detail"].startswith("2 boots, 24 lines read from ")
    prev = [f for f in logs(facts) if f.get("boot") == -1]
    cur = [f for f in logs(facts) if f.get("boot") == 0]
    assert {f.source.name for f in prev} == {"sos_commands/logs/journalctl_--no-pager_--catalog_--boot_-1"}
    assert {f.source.name for f in cur} == {"sos_commands/logs/journalctl_--no-pager_--catalog_--boot"}
    assert len(prev) == 17 and len(cur) == 7
    # the --catalog explanations are not part of any message
    assert by_message(facts, "Stopping hm-w4.service - HM worker 4...").get("boot") == -1
    assert not [f for f in logs(facts) if "Subject" in f.get("message") or "\n" in f.get("message")]
    assert len([f for f in logs(facts) if f.get("message") == "Journal started"]) == 2
    assert sorted(b.get("offset") for b in facts.of_kind("journal_boot")) == [-1, 0]


def test_sos_list_boots_names_every_boot(tmp_path: Path) -> None:
    facts = run(sos(tmp_path, list_boots=True))
    boots = {b.get("offset"): b for b in facts.of_kind("journal_boot")}
    assert {o: b.get("boot_id") for o, b in boots.items()} == {
        -2: "a41d07c3e9b84f61b2d5c8e0f7a39b16", -1: hj.BOOT_PREV, 0: hj.BOOT_CUR}
    # boot -2 is listed but not in the text (sos's size limit cut it): known, not read
    assert boots[-2].get("read") is False
    assert (boots[-2].get("first_t"), boots[-2].get("last_t")) == (1732118531.0, 1732124702.0)
    assert boots[-2].source.name == "sos_commands/systemd/journalctl_--list-boots"
    assert {f.get("boot_id") for f in logs(facts) if f.get("boot") == -1} == {hj.BOOT_PREV}


def test_sos_list_boots_with_the_pair(tmp_path: Path) -> None:
    facts = run(sos(tmp_path, full=False, list_boots=True))
    ids = {f.get("boot"): f.get("boot_id") for f in logs(facts)}
    assert ids == {-1: hj.BOOT_PREV, 0: hj.BOOT_CUR}


def test_sos_utf8_catalog_lines_are_dropped(tmp_path: Path) -> None:
    extra = {"sos_commands/logs/journalctl_--no-pager_--catalog_--boot":
             hj.DATA / "journalctl_--no-pager_--catalog_--boot.utf8.txt"}
    facts = run(sos(tmp_path, full=False, extra=extra))
    started = [f for f in logs(facts) if f.get("boot") == 0 and f.get("message").startswith("Journal started")]
    assert [f.get("message") for f in started] == ["Journal started"]
    assert not [f for f in logs(facts) if "░" in f.get("message")]


def test_sos_reversed_full_journal_from_manifest(tmp_path: Path) -> None:
    rel = "sos_commands/logs/journalctl_--no-pager"
    manifest = ('{"version": "4.9.0", "start_time": "2024-11-21 09:30:12.000001", "components": '
                '{"report": {"plugins": {"logs": {"commands": [{"command": "journalctl", '
                '"exec": "journalctl --no-pager  --reverse", "filepath": "' + rel + '"}]}}}}}')
    extra = {rel: hj.DATA / "journalctl_--no-pager.reverse-tac.txt",
             "sos_reports/manifest.json": manifest, "version.txt": "sos report: 4.9.0\n"}
    facts = run(sos(tmp_path, pair=False, extra=extra))
    boots = {b.get("offset"): b.get("boot_id") for b in facts.of_kind("journal_boot")}
    assert boots == {-1: hj.BOOT_PREV, 0: None}  # the marker names the boot before it
    assert {f.get("boot_id") for f in logs(facts) if f.get("boot") == -1} == {hj.BOOT_PREV}


def test_sos_reversed_without_manifest_uses_version(tmp_path: Path) -> None:
    extra = {"sos_commands/logs/journalctl_--no-pager": hj.DATA / "journalctl_--no-pager.reverse-tac.txt",
             "version.txt": "sos report: 4.10.0\n"}
    facts = run(sos(tmp_path, pair=False, extra=extra))
    boots = {b.get("offset"): b.get("boot_id") for b in facts.of_kind("journal_boot")}
    assert boots == {-1: hj.BOOT_PREV, 0: None}


def test_sos_empty_full_file_falls_back_to_pair(tmp_path: Path) -> None:
    extra = {"sos_commands/logs/journalctl_--no-pager": "-- No entries --\n"}
    facts = run(sos(tmp_path, extra=extra))
    [status] = statuses(facts)
    assert status["status"] == "ok" and "--catalog_--boot" in status["detail"]


def test_sos_without_journal_output(tmp_path: Path) -> None:
    facts = run(sos(tmp_path, full=False, pair=False))
    [status] = statuses(facts)
    assert status["status"] == "absent" and "sos report -o logs" in status["hint"]
    assert not logs(facts) and not list(facts.of_kind("journal_boot"))


def test_sos_year_inference_across_new_year(tmp_path: Path) -> None:
    text = ("Dec 31 23:59:58 hm-client systemd[1]: Stopping hm-w4.service - HM worker 4...\n"
            "-- Boot " + hj.BOOT_CUR + " --\n"
            "Jan 01 00:00:05 hm-client kernel: Linux version 6.1.0-27-amd64\n")
    extra = {"sos_commands/logs/journalctl_--no-pager": text,
             "sos_commands/date/date": "Thu Jan  2 00:10:00 UTC 2025\n"}
    facts = run(sos(tmp_path, pair=False, extra=extra))
    stop = by_message(facts, "Stopping hm-w4.service - HM worker 4...")
    assert stop.get("t") == 1735689598.0  # 2024-12-31 23:59:58 UTC
    assert stop.get("boot") == -1
    assert by_message(facts, "Linux version 6.1.0-27-amd64").get("t") == 1735689605.0


def test_classify_sos_names() -> None:
    names = [
        "sos_commands/logs/journalctl_--disk-usage",
        "sos_commands/logs/journalctl_--list-boots",
        "sos_commands/logs/journalctl_--no-pager",
        "sos_commands/logs/journalctl_--no-pager_--catalog_--boot",
        "sos_commands/logs/journalctl_--no-pager_--catalog_--boot_-1",
        "sos_commands/logs/journalctl_--no-pager_--boot_--since_-3days",
        "sos_commands/logs/journalctl_--no-pager_--boot_-1_--since_-3days",
        "sos_commands/logs/journalctl_--no-pager_--all_--boot_--output_verbose",
        "sos_commands/logs/journalctl_--no-pager_--since_-7days",
        "sos_commands/logs/journalctl_--all_--this-boot_--no-pager",
        "sos_commands/logs/journalctl_-o_export",
        "sos_commands/libvirt/journalctl_--no-pager_--unit_libvirtd",
        "sos_commands/logs/journalctl_--no-pager_--boot_-2",
    ]
    found = journal.classify_sos_names(names)
    assert found.full == ["sos_commands/logs/journalctl_--no-pager",
                          "sos_commands/logs/journalctl_--no-pager_--since_-7days"]
    assert found.this_boot == ["sos_commands/logs/journalctl_--all_--this-boot_--no-pager",
                               "sos_commands/logs/journalctl_--no-pager_--catalog_--boot",
                               "sos_commands/logs/journalctl_--no-pager_--boot_--since_-3days"]
    assert found.last_boot == ["sos_commands/logs/journalctl_--no-pager_--catalog_--boot_-1",
                               "sos_commands/logs/journalctl_--no-pager_--boot_-1_--since_-3days"]


# --------------------------------------------------------------------------- sostime
def test_collection_time_sources(tmp_path: Path) -> None:
    base = {"sos_commands/logs/journalctl_--no-pager": "x\n"}
    nov21 = 1732181412.0  # 2024-11-21 09:30:12
    src = sos(tmp_path / "a", full=False, pair=False)
    assert sostime.collection_time(src) == nov21
    src = SosreportSource(str(hj.make_sosreport(tmp_path / "b", {
        **base, "sos_commands/date/date_--utc": "Thu Nov 21 09:30:12 UTC 2024\n"})))
    assert sostime.collection_time(src) == nov21
    src = SosreportSource(str(hj.make_sosreport(tmp_path / "c", {
        **base, "sos_reports/manifest.json": '{"start_time": "2024-11-21 09:30:12.500000"}'})))
    assert sostime.collection_time(src) == nov21 + 0.5
    src = SosreportSource(str(hj.make_sosreport(tmp_path / "d", base)))
    assert sostime.collection_time(src) == 1732233599.0  # the friendly name's day, its last second
    src = SosreportSource(str(hj.make_sosreport(tmp_path / "e", base, name="sosreport-tux.1234-20241121093012")))
    assert sostime.collection_time(src) == nov21
    src = SosreportSource(str(hj.make_sosreport(tmp_path / "f", base, name="report")))
    assert abs(sostime.collection_time(src) - __import__("time").time()) < 60


def test_collection_time_from_timedatectl(tmp_path: Path) -> None:
    tdc = ("               Local time: Thu 2024-11-21 10:30:12 CET\n"
           "           Universal time: Thu 2024-11-21 09:30:12 UTC\n")
    src = SosreportSource(str(hj.make_sosreport(tmp_path, {"date": tdc}, name="report")))
    assert sostime.collection_time(src) == 1732181412.0 + 3600  # the wall clock, like log text


@pytest.mark.parametrize("text,seconds", [
    (" 09:30:12 up 5 min,  0 users,  load average: 0.31, 0.22, 0.09", 300),
    (" 09:30:12 up  3:04,  1 user,  load average: 0.00, 0.00, 0.00", 3 * 3600 + 240),
    (" 09:30:12 up 2 days,  3:04,  1 user,  load average: 0.00", 2 * 86400 + 3 * 3600 + 240),
    (" 09:30:12 up 1 day, 35 min,  2 users,  load average: 0.00", 86400 + 35 * 60),
    (" 09:30:12 up 12 days,  1 user,  load average: 0.00", 12 * 86400),
    ("garbage", None),
])
def test_parse_uptime(text: str, seconds) -> None:
    assert sostime.parse_uptime_output(text) == seconds


def test_boot_time_from_sos_uptime(tmp_path: Path) -> None:
    src = sos(tmp_path, full=False, pair=False)
    assert sostime.boot_time(src) == 1732181412.0 - 300
