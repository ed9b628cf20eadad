"""Every parser, fed random, binary, truncated, invalid UTF-8 and otherwise damaged input:
it returns a (possibly partial) result of its usual type or raises its one documented,
clear error; never anything else. Huge files and huge lines are parsed in bounded time."""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostmedic.collectors import cloudinit, fs_usage, iscsi, journal, kernel, libvirt, logfiles
from hostmedic.collectors import logtext, mdraid, mounts, network, nfs, pressure, sar, smartparse
from hostmedic.collectors import sostime, startup, systemd_units
from hostmedic.engine.facts import FactBase, Provenance
from hostmedic.engine.patterns import extract_symptoms
from hostmedic.engine.rulepack import load_pack

from .fuzzkit import FUZZ, FUZZ_FEW, bad_text, huge, samples

REF = 1_700_000_000.0  # a reference time for year-less text stamps

JOURNAL_TEXT = ["journal/*.txt", "journal/syslog", "journal/kern.log",
                "sosreports/*/sosreport/sos_commands/logs/journalctl_--no-pager*"]
QEMU_LOGS = ["sosreports/*/sosreport/var/log/libvirt/qemu/*[!e].log", "libvirt/sos-kvmhost/var/log/libvirt/qemu/*.log"]

# sos 4.x sos_reports/manifest.json (its head) and procps `uptime` lines.
MANIFEST = ('text:{"version": "4.7.2", "cmdline": "/usr/sbin/sos report --batch", '
            '"start_time": "2024-11-12 19:39:51.614521", "end_time": "2024-11-12 19:40:39.470185", '
            '"run_time": "0:00:47.855664", "compression": "xz", "policy": "Ubuntu", "components": {}}')
UPTIMES = ["text: 19:40:02 up 2 days,  3:04,  1 user,  load average: 0.08, 0.03, 0.01\n",
           "text: 09:13:02 up 35 min,  0 users,  load average: 1.00, 0.52, 0.21\n",
           "text: 12:00:01 up 412 days, 17 min,  2 users,  load average: 3.10, 2.95, 2.80\n"]


def _sar(parse):
    def run(text: str) -> int:
        return parse(text, sar.History(), "fuzz")
    return run


def _sadf(text: str) -> int | None:
    try:
        return sar.parse_sadf_json(text, sar.History(), "fuzz")
    except (ValueError, AttributeError, TypeError):
        return None  # the errors its caller turns into "FILE: not sysstat JSON (...)"


def _xml(text: str):
    try:
        root, lines = libvirt.parse_xml(text)
    except libvirt.XmlError as err:  # the one clear error: it names the line
        assert "line" in str(err)
        return None
    for disk in root.iter("disk"):
        libvirt.disk_source(disk)
    libvirt.memory_kib(root.find("memory"))
    return root


# (name, parser taking one str, fixture globs, type(s) the result must have)
PARSERS: list[tuple[str, Callable[[str], Any], list[str], Any]] = [
    ("journal text (short, short-iso, syslog)", lambda t: list(logtext.parse_syslog_text(t, REF, "journal")),
     JOURNAL_TEXT, list),
    ("rsyslog files", lambda t: list(logtext.parse_syslog_text(t, REF, "syslog")), JOURNAL_TEXT, list),
    ("dmesg", lambda t: list(logtext.parse_dmesg_text(t, REF)), ["journal/dmesg", "sosreports/*/sosreport/sos_commands/kernel/dmesg*"], list),
    ("journal text cleaning", journal.clean_journal_text, JOURNAL_TEXT, str),
    ("journalctl --list-boots", journal.parse_list_boots,
     ["journal/journalctl_--list-boots.txt", "sosreports/*/sosreport/sos_commands/*/journalctl_--list-boots"], dict),
    ("cloud-init.log", lambda t: cloudinit.parse_cloud_init_log(t, REF), ["cloudinit/*/var/log/cloud-init*.log"], list),
    ("cloud-init status --long", cloudinit.parse_status, ["cloudinit/*/sos_commands/cloud_init/*"], dict),
    ("df", fs_usage.parse_df, ["storage/df/*", "sosreports/*/sosreport/sos_commands/filesys/df*"], list),
    ("iscsiadm -m session -P 3", iscsi.parse_sessions, ["storage/iscsi/*"], list),
    ("/proc/modules, lsmod", kernel.parse_modules, ["kernel/proc_modules*", "kernel/lsmod*"], list),
    ("ls -lanR /dev", lambda t: kernel.dev_listing_has(t, "kvm"), ["kernel/ls_*"], (bool, type(None))),
    ("/proc/cpuinfo", kernel.parse_cpuinfo, ["kernel/cpuinfo*"], dict),
    ("ras-mc-ctl --summary", kernel.parse_ras_summary, ["kernel/ras-mc-ctl*"], list),
    ("libvirt domain XML", _xml, ["libvirt/**/*.xml", "sosreports/*/sosreport/etc/libvirt/qemu/*.xml",
                                  "sosreports/*/sosreport/run/libvirt/qemu/*.xml"], object),
    ("virsh list --all", libvirt.parse_virsh_list, ["sosreports/*/sosreport/sos_commands/virsh/virsh_-r_list_--all"], dict),
    ("qemu domain log", libvirt.parse_qemu_log, QEMU_LOGS, list),
    ("guest console log", libvirt.parse_console_log, ["sosreports/*/sosreport/var/log/libvirt/qemu/*-console.log"], list),
    ("libvirtd log", libvirt.parse_libvirtd_log, ["libvirt/sos-kvmhost/var/log/libvirt/libvirtd.log"], list),
    ("message key", logfiles.message_key, JOURNAL_TEXT, str),
    ("/proc/mdstat", mdraid.parse_mdstat, ["storage/md/mdstat*"], list),
    ("mdadm --detail", mdraid.parse_detail, ["storage/md/mdadm*"], dict),
    ("/proc/mounts, fstab", lambda t: [mounts.parse_mount_line(l) for l in t.splitlines()],
     ["sosreports/*/sosreport/proc/mounts", "sosreports/*/sosreport/etc/fstab"], list),
    ("mount unit names", lambda t: [mounts.unit_name(l) for l in t.splitlines()[:200]],
     ["sosreports/*/sosreport/proc/mounts"], list),
    ("ip -j link", network.parse_ip_link_json, ["network/*.json"], (list, type(None))),
    ("ip -s -d link", network.parse_ip_link_text, ["network/ip_-s*", "network/sos-*/sos_commands/networking/ip_*"], list),
    ("/proc/self/mountstats", nfs.parse_mountstats, ["storage/nfs/mountstats*"], list),
    ("nfsstat -c", nfs.parse_client_rpc, ["storage/nfs/nfsstat*"], (tuple, type(None))),
    ("/proc/pressure/*", pressure.parse_psi, ["pressure/*-during-*", "pressure/*-after-*"], dict),
    ("/proc/vmstat", pressure.parse_vmstat, ["pressure/vmstat*", "sosreports/*/sosreport/proc/vmstat"], dict),
    ("sadf -j", _sadf, ["sysstat/*.json"], (int, type(None))),
    ("sar -A text", _sar(sar.parse_sar_text), ["sysstat/*.txt"], int),
    ("sar header date", lambda t: [sar.header_date(l) for l in t.splitlines()[:50]], ["sysstat/*.txt"], list),
    ("smartctl --json", lambda t: smartparse.parse_json(t, "/dev/sda"), ["storage/smart/*.json"], (dict, type(None))),
    ("smartctl text", lambda t: smartparse.parse_text(t, "/dev/sda"), ["storage/smart/*.txt"], dict),
    ("smartctl any", lambda t: smartparse.parse(t, "/dev/nvme0"), ["storage/smart/*"], dict),
    ("date", sostime.parse_date_output, ["sosreports/*/sosreport/sos_commands/date/date"], (int, float, type(None))),
    ("sos manifest", sostime.parse_manifest_start, [MANIFEST], (int, float, type(None))),
    ("sosreport name", lambda t: sostime.parse_report_name(t[:300]), ["sosreports/*/expected.yaml"], (int, float, type(None))),
    ("uptime", sostime.parse_uptime_output, UPTIMES, (int, float, type(None))),
    ("systemd time spans", lambda t: [startup.timespan_seconds(l) for l in t.splitlines()[:100]], JOURNAL_TEXT, list),
    ("Startup finished", lambda t: [startup.parse_startup_finished(l) for l in t.splitlines()[:400]], JOURNAL_TEXT, list),
    ("systemctl list-units --output=json", systemd_units.parse_list_units_json,
     ["sosreports/*/sosreport/sos_commands/systemd/systemctl_list-units*"], (list, type(None))),
    ("systemctl list-units", systemd_units.parse_list_units_text,
     ["sosreports/*/sosreport/sos_commands/systemd/systemctl_list-units*", "systemd/**/systemctl_list-units*"], list),
    ("systemctl show", systemd_units.parse_show, ["systemd/**/systemctl_show*"], list),
]
IDS = [p[0] for p in PARSERS]


def check(parse: Callable[[str], Any], want: Any, text: str) -> Any:
    result = parse(text)
    assert isinstance(result, want), f"{type(result).__name__} from {text[:200]!r}"
    return result


@pytest.mark.parametrize("name,parse,globs,want", PARSERS, ids=IDS)
def test_parser_survives_bad_input(name, parse, globs, want):
    real = samples(*globs)

    @FUZZ
    @given(bad_text(real))
    def run(text: str) -> None:
        check(parse, want, text)

    run()


@pytest.mark.parametrize("name,parse,globs,want", PARSERS, ids=IDS)
def test_parser_reads_real_samples_and_edges(name, parse, globs, want):
    """The real fixtures themselves, an empty file, and only whitespace."""
    for text in samples(*globs) + ["", "\n", " \t\n\n", "\0" * 10, "\ufffd" * 10]:
        check(parse, want, text)


# The huge tests cost seconds: a few representative parsers cover the regexes with
# unbounded repetition; each must be linear (a 4 MB file and a 1 MB line in seconds).
HUGE = ["journal text (short, short-iso, syslog)", "dmesg", "qemu domain log", "libvirtd log",
        "sar -A text", "smartctl text", "/proc/mounts, fstab", "ip -s -d link", "/proc/self/mountstats",
        "df", "/proc/mdstat", "iscsiadm -m session -P 3", "cloud-init.log", "systemctl show",
        "libvirt domain XML", "guest console log", "journalctl --list-boots"]


@pytest.mark.parametrize("name,parse,globs,want", [p for p in PARSERS if p[0] in HUGE],
                         ids=[i for i in IDS if i in HUGE])
def test_parser_huge_file_and_huge_line(name, parse, globs, want):
    real = samples(*globs)
    started = time.monotonic()
    check(parse, want, huge(real, 4 << 20))
    for filler in ("a" * (1 << 20), "[ " * (1 << 19), ": =" * (1 << 18), "9" * (1 << 20)):
        check(parse, want, real[0][:200] + filler + "\n" + real[0])
    assert time.monotonic() - started < 60, f"{name}: too slow on huge input"


# -- journal entries as systemd-python returns them (bytes, lists, odd types) ------------

journal_values = st.one_of(st.none(), st.text(max_size=50), st.binary(max_size=50), st.integers(),
                           st.lists(st.one_of(st.binary(max_size=20), st.text(max_size=20)), max_size=3),
                           st.just("9" * 5000), st.just(b"\xff\xfe"))
entries = st.dictionaries(st.sampled_from(["MESSAGE", "__REALTIME_TIMESTAMP", "_TRANSPORT", "SYSLOG_IDENTIFIER",
                                           "_COMM", "_PID", "SYSLOG_PID", "UNIT", "USER_UNIT", "_SYSTEMD_UNIT",
                                           "PRIORITY", "_HOSTNAME", "_BOOT_ID"]), journal_values)


@FUZZ
@given(entries, st.integers(-5, 0), st.one_of(st.none(), st.text(max_size=40)))
def test_journal_entry_survives_any_field_values(entry, offset, boot_id):
    line = journal.entry_to_line(entry, offset, boot_id)
    assert line is None or isinstance(line.message, str)


@FUZZ_FEW
@given(st.lists(st.text(max_size=80), max_size=30))
def test_sos_journal_names_any(names):
    journal.classify_sos_names(names)


@FUZZ_FEW
@given(st.integers(min_value=-(1 << 70), max_value=1 << 70))
def test_taint_any_number(value):
    assert isinstance(kernel.decode_taint(value), dict)


# -- symptoms: the rule pack's patterns over hostile log messages ----------------------

PACK = load_pack()


@FUZZ_FEW
@given(st.lists(bad_text(samples(*JOURNAL_TEXT)[:3]).map(lambda t: t[:5000]), min_size=1, max_size=8))
def test_symptom_extraction_survives_any_message(messages):
    base = FactBase()
    for i, message in enumerate(messages):
        base.add("log", {"message": message, "stream": "journal", "ident": "kernel", "boot": 0,
                         "t": REF + i}, Provenance("file", "fuzz", i + 1))
    extract_symptoms(base, PACK.symptom_patterns())
