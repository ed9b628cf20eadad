"""File fixes against a copy of a guest's tree (--root): each applied, checked, applied
again (nothing changes), rolled back (the tree is as it was); refusals; a verification
that fails and is rolled back on its own."""
from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest

from fixkit import audit_lines, fix, snapshot
from hostmedic.remediations import runner
from hostmedic.remediations.actions import Run, WriteFile
from hostmedic.remediations.host import Host
from hostmedic.remediations.target import Target

DROPINS = "etc/systemd/system/nginx.service.d"


def cat_config(root, unit):
    """What systemd itself reads for UNIT in the tree, as a check independent of the fix."""
    return subprocess.run(["systemd-analyze", f"--root={root}", "cat-config", f"systemd/system/{unit}"],
                          capture_output=True, text=True, check=True).stdout


def undo(outcome, root, fix_id, **target):
    """The fix's rollback step, run on what the apply did."""
    errors = runner.rollback(runner.load(fix_id), Host(root=str(root)), Target(**target), outcome.steps,
                             runner.Quiet())
    assert errors == []


def apply_twice_and_undo(tree, fix_id, check, **target):
    before = snapshot(tree)
    first = fix(fix_id, tree, **target)
    assert (first.result, first.code) == ("applied", runner.APPLIED), first.message
    check(tree)
    changed = snapshot(tree)
    assert changed != before
    second = fix(fix_id, tree, **target)
    assert (second.result, second.code) == ("unchanged", runner.APPLIED)
    assert snapshot(tree) == changed
    undo(first, tree, fix_id, **target)
    assert snapshot(tree) == before
    results = [line["result"] for line in audit_lines(tree)]
    assert results == ["applied", "unchanged"]
    return first


def test_unit_stop_timeout(tree):
    def check(root):
        dropin = root / DROPINS / "hostmedic-stop-timeout.conf"
        assert oct(os.stat(dropin).st_mode & 0o777) == "0o644"
        assert "[Service]\nTimeoutStopSec=30s\n" in dropin.read_text()
        seen = cat_config(root, "nginx.service")
        assert seen.index("TimeoutStopSec=5") < seen.index("TimeoutStopSec=30s")  # the drop-in wins
    first = apply_twice_and_undo(tree, "unit-stop-timeout", check, unit="nginx.service")
    assert first.backup and os.path.isdir(first.backup)
    manifest = open(os.path.join(first.backup, "manifest.json")).read()
    assert '"existed": false' in manifest and "hostmedic-stop-timeout.conf" in manifest
    assert any("daemon-reload skipped" in n for n in first.notes)
    assert not (tree / DROPINS).exists()  # the folder it made went with the undo


def test_unit_after_network_online(tree):
    def check(root):
        text = (root / DROPINS / "hostmedic-wait-network-online.conf").read_text()
        assert "[Unit]\nAfter=network-online.target nss-lookup.target\nWants=network-online.target\n" in text
        assert "After=network-online.target nss-lookup.target" in cat_config(root, "nginx.service")
    apply_twice_and_undo(tree, "unit-after-network-online", check, unit="nginx.service")


def test_unit_limit_nofile(tree):
    def check(root):
        text = (root / DROPINS / "hostmedic-limit-nofile.conf").read_text()
        assert "[Service]\nLimitNOFILE=65536:524288\n" in text
    first = apply_twice_and_undo(tree, "unit-limit-nofile", check, unit="nginx.service")
    assert any("keeps its old limit until it restarts" in n for n in first.notes)


def test_restart_needs_a_running_systemd(tree):
    out = fix("unit-limit-nofile", tree, unit="nginx.service", restart=True, allow_disruptive=True)
    assert out.code == runner.REFUSED and "--restart needs a running systemd" in out.message


def test_mount_timeout(tree):
    original = (tree / "etc/fstab").read_text()

    def check(root):
        text = (root / "etc/fstab").read_text()
        assert oct(os.stat(root / "etc/fstab").st_mode & 0o777) == "0o644"
        old_lines, new_lines = original.splitlines(), text.splitlines()
        changed = [(a, b) for a, b in zip(old_lines, new_lines) if a != b]
        assert changed == [("10.20.4.5:/export/artifacts /srv/artifacts nfs4 defaults,_netdev 0 0",
                            "10.20.4.5:/export/artifacts /srv/artifacts nfs4 "
                            "defaults,_netdev,nofail,x-systemd.mount-timeout=30s 0 0")]
        shown = subprocess.run(["findmnt", "--tab-file", root / "etc/fstab", "--mountpoint", "/srv/artifacts",
                                "-n", "-o", "OPTIONS"], capture_output=True, text=True).stdout.strip()
        assert shown == "defaults,_netdev,nofail,x-systemd.mount-timeout=30s"
    first = apply_twice_and_undo(tree, "mount-timeout", check, mount="/srv/artifacts")
    assert open(os.path.join(first.backup, "etc", "fstab")).read() == original


def test_mount_timeout_takes_a_mount_unit_name(tree):
    out = fix("mount-timeout", tree, mount="srv-artifacts.mount", mount_timeout="45s")
    assert out.result == "applied"
    assert "x-systemd.mount-timeout=45s" in (tree / "etc/fstab").read_text()


def test_nfs_mount_options(tree):
    def check(root):
        assert "nfs4 defaults,_netdev,nofail,x-systemd.automount,x-systemd.mount-timeout=30s 0 0" \
            in (root / "etc/fstab").read_text()
    apply_twice_and_undo(tree, "nfs-mount-options", check, mount="/srv/artifacts")


def test_nfs_soft_needs_accept_data_risk(tree):
    before = snapshot(tree)
    out = fix("nfs-mount-options", tree, mount="/srv/artifacts", soft=True, timeo=150, retrans=3)
    assert out.code == runner.REFUSED and "--accept-data-risk" in out.message
    assert snapshot(tree) == before
    out = fix("nfs-mount-options", tree, mount="/srv/artifacts", soft=True, timeo=150, retrans=3,
              accept_data_risk=True)
    assert out.result == "applied"
    line = [x for x in (tree / "etc/fstab").read_text().splitlines() if "/srv/artifacts" in x][0]
    assert line.split()[3] == "defaults,_netdev,nofail,x-systemd.automount,x-systemd.mount-timeout=30s," \
                              "soft,timeo=150,retrans=3"


@pytest.mark.parametrize("fix_id,target,why", [
    ("nfs-mount-options", {"mount": "/boot/efi"}, "is vfat, not nfs or nfs4"),
    ("mount-timeout", {"mount": "/mnt/nowhere"}, "has no entry for /mnt/nowhere"),
    ("unit-stop-timeout", {"unit": "nosuch.service"}, "no unit file for nosuch.service"),
    ("unit-stop-timeout", {"unit": "srv-artifacts.mount"}, "is not a service"),
    ("fstrim-now", {}, "not on a --root tree"),
])
def test_refusals_change_nothing(tree, fix_id, target, why):
    before = snapshot(tree)
    out = fix(fix_id, tree, **target)
    assert out.code == runner.REFUSED and why in out.message
    assert snapshot(tree) == before
    assert audit_lines(tree)[-1]["result"] == "refused"


def test_failed_verification_rolls_back(tree):
    """A later drop-in (systemctl edit's override.conf) sets the timeout again: systemd
    would never use ours, verification says so, and the tree is put back as it was."""
    override = tree / DROPINS / "override.conf"
    override.parent.mkdir(parents=True)
    override.write_text("[Service]\nTimeoutStopSec=infinity\n")
    before = snapshot(tree)
    out = fix("unit-stop-timeout", tree, unit="nginx.service")
    assert (out.result, out.code) == ("rolled-back", runner.ROLLED_BACK)
    assert "TimeoutStopSec is infinity" in out.problems[0] and "override.conf" in out.problems[0]
    assert snapshot(tree) == before
    assert audit_lines(tree)[-1]["result"] == "rolled-back"


def test_failed_step_undoes_the_steps_before_it(tree, monkeypatch):
    """A fix whose second step fails: the file its first step wrote is put back."""
    fake = types.ModuleType("hostmedic.remediations.two_steps")
    fake.ID, fake.TITLE, fake.SCOPE, fake.RISK, fake.REVERSIBLE = "two-steps", "t", "guest", "safe", True
    fake.NEEDS = fake.TAKES = ()
    fake.preconditions = lambda host, target: []
    fake.changes = lambda host, target: [
        WriteFile(host, "/etc/fstab", "# emptied\n", "Empty fstab"),
        Run("A command that fails", ["false"])]
    fake.verify = lambda host, target, done: []
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setitem(runner.MODULES, "two-steps", "two_steps")
    before = snapshot(tree)
    out = fix("two-steps", tree)
    assert (out.result, out.code) == ("rolled-back", runner.ROLLED_BACK)
    assert "exited 1" in out.problems[0]
    assert snapshot(tree) == before


def test_enable_fstrim_timer_in_a_tree(tree):
    link = tree / "etc/systemd/system/timers.target.wants/fstrim.timer"

    def check(root):
        assert os.readlink(link) == "/usr/lib/systemd/system/fstrim.timer"
    first = apply_twice_and_undo(tree, "enable-fstrim-timer", check)
    assert any("not started now" in n for n in first.notes)


def test_enable_fstrim_timer_live_needs_systemd(tmp_path):
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: this checks the refusal where it does not")
    out = fix("enable-fstrim-timer", None, apply=False, state=tmp_path)
    assert out.code == runner.REFUSED and "systemd is not running here" in out.message


def test_fstrim_now_on_this_host(tmp_path):
    """fstrim on the file system holding the test's temp folder: real, and harmless."""
    if os.geteuid() != 0:
        pytest.skip("fstrim needs root")
    out = fix("fstrim-now", None, mount=str(tmp_path), state=tmp_path / "state")
    if out.code != runner.APPLIED and "not supported" in " ".join(out.problems):
        pytest.skip("this file system does not support discard")
    assert out.result == "applied", out.problems
    assert "trimmed" in out.steps[0].output
    assert [line["result"] for line in audit_lines(tmp_path / "state")] == ["applied"]
