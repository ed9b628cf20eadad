"""Secrets found in logs, configuration and command lines are masked in snapshots and
reports by default, kept with --no-redact; a redacted snapshot replays the same findings."""
from __future__ import annotations

import json
import shutil
import time
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostmedic.engine.facts import FactBase, Provenance
from hostmedic.engine.redact import MASK, redact_base, redact_text

from .fuzzkit import FUZZ, REPO, bad_text, samples

SECRETS = [
    # (text as it appears in the evidence, the secret that must go, what must stay)
    ("app[311]: connecting with password=hunter2 to db", "hunter2", "password="),
    ("PGPASSWORD='s3cr3t-pg' psql -h db01 -U app", "s3cr3t-pg", "PGPASSWORD="),
    ("curl -H 'Authorization: Bearer eyJraWQiOiJ4In0.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl' https://api",
     "eyJraWQiOiJ4In0", "Authorization: Bearer"),
    ("proxy: Proxy-Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA", "Basic"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx8Zf0aU3mQx1\nQ8o5Lw==\n-----END RSA PRIVATE KEY-----",
     "MIIEowIBAAKCAQEAx8Zf0aU3mQx1", "-----END RSA PRIVATE KEY-----"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "b3BlbnNzaC1rZXktdjEA", "BEGIN OPENSSH"),
    ("worker: DATABASE_URL=postgres://app:Pa55@w0rd@db.example.com:5432/prod", "Pa55@w0rd", "db.example.com"),
    ("celery: broker amqp://guest:guestpw@rabbit:5672//", "guestpw", "amqp://guest:"),
    ("mongo: mongodb://admin:m0ng0pw@10.0.0.5:27017/admin?authSource=admin", "m0ng0pw", "10.0.0.5"),
    ("aws: using key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "using key"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "aws_secret_access_key"),
    ("        node.session.auth.password = chap-secret-1", "chap-secret-1", "node.session.auth.password"),
    ("<graphics type='vnc' port='5900' autoport='no' listen='0.0.0.0' passwd='vncpass1'>", "vncpass1", "graphics"),
    ("-object secret,id=masterKey0,data=9eJFpA1BvzkyLXX,format=base64", "9eJFpA1BvzkyLXX", "masterKey0"),
    ("deploy.sh --token ghp_abcdefghijklmnopqrstuvwxyz0123456789 --repo x", "ghp_abcdefghijklmnop", "--repo x"),
    ('cloud-init[812]: {"password": "ubuntu-pw", "user": "ubuntu"}', "ubuntu-pw", '"user": "ubuntu"'),
    ("nginx: X-Auth-Token: 5f2b9c1e7a3d", "5f2b9c1e7a3d", "X-Auth-"),
    ("slack notify xoxb-123456789012-abcdefghij", "xoxb-123456789012", "slack notify"),
]

# Lines that look close but hold no secret: they stay exactly as they are (rules read them).
INNOCENT = [
    "systemd[1]: systemd-ask-password-wall.service: Deactivated successfully.",
    "systemd[1]: Started systemd-ask-password-console.path - Dispatch Password Requests to Console.",
    "sshd[822]: Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2",
    "sudo:      bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
    "kernel: nfs: server 10.77.0.1 not responding, still trying",
    "cloud-init[812]: url_helper.py[WARNING]: Calling 'http://169.254.169.254/latest/api/token' failed [0/1s]",
    "kernel: EXT4-fs (vda1): Remounting filesystem read-only",
    "systemd-logind[230]: Watching system buttons on /dev/input/event0 (Power Button)",
]


@pytest.mark.parametrize("text,secret,kept", SECRETS, ids=[s[1][:12] for s in SECRETS])
def test_secret_is_masked_and_context_kept(text, secret, kept):
    out = redact_text(text)
    assert secret not in out and MASK in out and kept in out
    assert redact_text(out) == out  # idempotent: a redacted snapshot redacts to itself


@pytest.mark.parametrize("text", INNOCENT)
def test_ordinary_lines_are_untouched(text):
    assert redact_text(text) == text


def test_real_fixtures_are_left_as_they_are():
    """17,000 real lines: only the iSCSI password line (already starred by iscsiadm) changes."""
    changed = [line for text in samples("**/*") for line in text.splitlines() if redact_text(line) != line]
    assert all("password" in line for line in changed), changed[:5]


@FUZZ
@given(bad_text([s[0] for s in SECRETS] + INNOCENT))
def test_redaction_is_idempotent_and_total(text):
    once = redact_text(text)
    assert redact_text(once) == once


@FUZZ
@given(st.text(alphabet="abcXYZ019+/=:@ -_.,'\"\n", max_size=4000))
def test_redaction_time_is_linear(text):
    redact_text(text * 20)


@pytest.mark.parametrize("unit", ["a", "key", "token=", "a.b-", "x ", "Bearer AAAAAAAAAA", "secret,", "=",
                                  "AKIA", "eyJ", "::", "--password ", "postgres://", "-----BEGIN RSA ",
                                  "-----BEGIN RSA PRIVATE KEY-----", "password=", "Authorization: "])
def test_a_megabyte_line_is_redacted_in_linear_time(unit):
    """A hostile log line of one repeated token: no pattern may backtrack quadratically."""
    started = time.monotonic()
    redact_text(unit * (1_000_000 // len(unit)))
    assert time.monotonic() - started < 5, unit


def test_fact_base_redaction_covers_nested_fields_and_provenance():
    base = FactBase()
    base.add("log", {"message": "login with password=abc123", "list": ["token: t0k3n"],
                     "nested": {"url": "redis://:r3d1s@cache:6379"}, "n": 5},
             Provenance("command", "tool --password pw1"))
    assert redact_base(base) == 1
    dumped = json.dumps(base.to_json())
    for secret in ("abc123", "t0k3n", "r3d1s", "pw1"):
        assert secret not in dumped
    assert base.meta["redacted"] == 1 and base.facts[0].fields["n"] == 5


# -- through the command line: a sosreport whose logs hold secrets ---------------------

CASE = Path(REPO) / "tests" / "data" / "sosreports" / "guest-nfs-hang" / "sosreport"
LEAKS = ["hunter2", "AKIAIOSFODNN7EXAMPLE", "MIIEowIBAAKCAQEAx8Zf0aU3", "s3cr3tpg", "eyJraWQiOiJ4In0"]
LEAKY_LINES = [  # idents whose lines are always kept (kernel, systemd, libvirtd)
    "Nov 21 09:12:10 hm-client kernel: Command line: BOOT_IMAGE=/boot/vmlinuz root=/dev/vda password=hunter2",
    "Nov 21 09:12:11 hm-client libvirtd[800]: rbd auth: key AKIAIOSFODNN7EXAMPLE",
    "Nov 21 09:12:12 hm-client kernel: -----BEGIN RSA PRIVATE KEY-----",
    "Nov 21 09:12:12 hm-client kernel: MIIEowIBAAKCAQEAx8Zf0aU3mQx1Q8o5LwJ3k2Lm9Pq4Rs7Tu1Vw5Xy8Za0Bc3De6Fg",
    "Nov 21 09:12:13 hm-client systemd[1]: Starting dump.service - pg_dump postgres://app:s3cr3tpg@db/prod...",
    "Nov 21 09:12:14 hm-client systemd[1]: api.service: Authorization: Bearer eyJraWQiOiJ4In0.eyJzdWIiOiJib2IifQ.c2ln",
]


def _cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hostmedic.engine.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture
def leaky_sosreport(tmp_path) -> Path:
    tree = tmp_path / "sosreport"
    shutil.copytree(CASE, tree, symlinks=True)
    journal = next(tree.glob("sos_commands/logs/journalctl_--no-pager*"))
    lines = journal.read_text().splitlines()
    at = next(i for i, l in enumerate(lines) if "not responding" in l)
    journal.write_text("\n".join(lines[:at] + LEAKY_LINES + lines[at:]) + "\n")
    # and one in the fstab line the NFS finding shows as evidence
    fstab = tree / "etc" / "fstab"
    fstab.write_text(fstab.read_text().replace("defaults,_netdev", "defaults,_netdev,password=hunter2"))
    return tree


def test_reports_and_snapshots_are_redacted_by_default(leaky_sosreport, tmp_path):
    snap = tmp_path / "facts.json"
    assert _cli("collect", "--sosreport", leaky_sosreport, "-o", snap).returncode == 0
    outputs = {"snapshot": snap.read_text()}
    for fmt in ("json", "text", "markdown", "html", "prometheus"):
        done = _cli("--sosreport", leaky_sosreport, "--format", fmt)
        assert done.returncode in (0, 1, 2), done.stderr
        outputs[fmt] = done.stdout
    outputs["from snapshot"] = _cli("--facts", snap, "--format", "json").stdout
    for name, text in outputs.items():
        for secret in LEAKS:
            assert secret not in text, f"{secret} leaked into the {name}"
    assert MASK in outputs["snapshot"] and json.loads(outputs["snapshot"])["meta"]["redacted"] >= 5
    for fmt in ("json", "text", "markdown", "html"):  # the fstab line is the finding's evidence
        assert "password=" + MASK in outputs[fmt].replace("&#91;", "[").replace("&#93;", "]"), fmt


def test_redacted_snapshot_replays_the_same_findings(leaky_sosreport, tmp_path):
    snap = tmp_path / "facts.json"
    _cli("collect", "--sosreport", leaky_sosreport, "-o", snap)
    live = json.loads(_cli("--sosreport", leaky_sosreport, "--format", "json").stdout)
    replay = json.loads(_cli("--facts", snap, "--format", "json").stdout)
    assert [(f["rule"], f["severity"], f["title"]) for f in live["findings"]] == \
           [(f["rule"], f["severity"], f["title"]) for f in replay["findings"]]
    assert json.dumps(live["findings"], sort_keys=True) == json.dumps(replay["findings"], sort_keys=True)
    assert any(f["rule"] == "nfs-mount-hang" for f in live["findings"])


def test_no_redact_keeps_the_evidence(leaky_sosreport, tmp_path):
    snap = tmp_path / "facts.json"
    assert _cli("collect", "--no-redact", "--sosreport", leaky_sosreport, "-o", snap).returncode == 0
    text = snap.read_text()
    assert "hunter2" in text and "s3cr3tpg" in text
    # a report made from that snapshot is still redacted unless --no-redact is given again
    assert "hunter2" not in _cli("--facts", snap, "--format", "html").stdout
    assert "hunter2" in _cli("--facts", snap, "--format", "html", "--no-redact").stdout
