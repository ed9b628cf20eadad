"""The lab's own parts that need no VM (`make test`); the lab itself runs with `make lab`."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

import lab_fixes
import lab_guest
import lab_image
import lab_scenarios
import lab_systemd
import run_lab
from hostmedic.engine.rulepack import load_pack
from hostmedic.remediations import MODULES as REMEDIATIONS

ALL = lab_scenarios.load_all()
SCENARIOS = [s for s in ALL if s.get("kind") != "systemd"]
SYSTEMD = [s for s in ALL if s.get("kind") == "systemd"]


def test_six_tiny_guest_and_six_systemd_scenarios_with_distinct_names():
    assert len(SCENARIOS) == 6 and len(SYSTEMD) == 6
    assert len({s["name"] for s in ALL}) == 12


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s["name"])
def test_each_scenario_names_a_real_rule_and_real_fixes(sc):
    rule = sc["expect"]["rule"]
    if rule is not None:
        assert load_pack().get(rule) is not None, rule
    for name in sc.get("fixes") or []:
        assert lab_fixes.FIX_IDS[name] in REMEDIATIONS


def test_exactly_one_scenario_is_the_healthy_one():
    assert [s["name"] for s in SCENARIOS if s["expect"]["rule"] is None] == ["healthy"]


def test_a_broken_scenario_file_is_refused():
    problems = lab_scenarios.check({"name": "Bad Name", "title": "x", "guest": {"role": "dance", "cpu": 2},
                                    "fault": "meteor", "expect": {}, "fixes": ["magic"]})
    text = "; ".join(problems)
    for word in ("name:", "guest.role", "unknown key 'cpu'", "fault must be", "expect.rule", "unknown fix 'magic'"):
        assert word in text


@pytest.mark.skipif(not shutil.which("dash"), reason="no dash to check the script's syntax")
def test_the_guest_init_script_parses():
    subprocess.run(["dash", "-n", lab_guest.INIT_SCRIPT], check=True)


def test_domain_xml_is_an_emulated_guest_with_its_console_logged():
    xml = lab_guest.domain_xml("hm-lab-x", "/k", "/i", "/var/log/libvirt/qemu/hm-lab-x-serial0.log",
                               cmdline={"hm_role": "fill", "hm_mib": 48}, agent_channel=True,
                               disk={"path": "/s/x.qcow2", "driver": {"error_policy": "report", "discard": "unmap"}})
    root = ET.fromstring(xml)
    assert root.get("type") == "qemu"  # no nested KVM on the machines the lab runs on
    assert root.findtext("./os/cmdline") == "console=ttyS0 hm_role=fill hm_mib=48"
    assert root.find("./devices/serial/log").get("file") == "/var/log/libvirt/qemu/hm-lab-x-serial0.log"
    driver = root.find("./devices/disk/driver")
    assert (driver.get("type"), driver.get("error_policy"), driver.get("discard")) == ("qcow2", "report", "unmap")
    assert root.find("./devices/channel/target").get("name") == "org.qemu.guest_agent.0"


def test_uptimes_restart_with_each_boot_of_the_console_log():
    text = ("[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)\n"
            "hm: ready role=idle uptime=2.19\nhm: up 2.20\nhm: up 22.28\n"
            "[   22.376009] sysrq: Resetting\n"
            "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)\n"
            "hm: up 2.93\n")
    assert lab_guest.uptimes(text) == [(0, 2.20), (0, 22.28), (1, 2.93)]


def test_a_machine_that_cannot_run_the_lab_skips_it_unless_ci(monkeypatch, capsys):
    monkeypatch.setattr(run_lab.lab_host, "cannot_run", lambda: "not root: for the test")
    monkeypatch.delenv("CI", raising=False)
    assert run_lab.main([]) == 0
    assert "lab: SKIPPED: not root: for the test" in capsys.readouterr().out
    monkeypatch.setenv("CI", "true")
    assert run_lab.main([]) == 1


# -- systemd guests ------------------------------------------------------------------------

@pytest.mark.parametrize("sc", SYSTEMD, ids=lambda s: s["name"])
def test_each_systemd_scenario_names_real_rules_and_real_fixes(sc):
    pack = load_pack()
    expect = sc["expect"]
    for rule in [expect["rule"], *(expect.get("also") or []), *(expect.get("grouped") or []),
                 *(expect.get("absent") or [])]:
        assert rule is None or pack.get(rule) is not None, rule
    for fix in sc.get("fixes") or []:
        assert fix["id"] in REMEDIATIONS


def test_ci_runs_the_unmount_and_the_stuck_stop_scenarios_end_to_end():
    ci = [s["name"] for s in lab_scenarios.load_all(ci_only=True) if s.get("kind") == "systemd"]
    assert {"nfs-unmount", "stuck-stop"} <= set(ci)
    assert any(s.get("sos") for s in lab_scenarios.load_all(ci_only=True))


def test_a_broken_systemd_scenario_file_is_refused():
    problems = lab_scenarios.check({"name": "x", "kind": "systemd", "title": "t", "guests": ["plain", "plain"],
                                    "setup": ["dance"], "fault": "meteor", "expect": {"rule": None, "bogus": 1},
                                    "fixes": ["not-a-mapping"]})
    text = "; ".join(problems)
    for word in ("guests:", "unknown set-up 'dance'", "fault must be", "unknown key 'bogus'", "fixes:"):
        assert word in text


def test_systemd_domain_xml_forwards_sshd_and_links_the_nfs_pair():
    image = {"kernel": "/w/vmlinuz", "initrd": "/w/initrd.img"}
    root = ET.fromstring(lab_systemd.domain_xml("hm-lab-n-client", image, "/w/c.qcow2", "/l/c.log",
                                                "nfs-client", 40022, (41001, 41002)))
    assert root.get("type") == "qemu"
    assert "root=/dev/vda" in root.findtext("./os/cmdline").split()
    assert "systemd.hostname=hm-lab-n-client" in root.findtext("./os/cmdline").split()
    link = root.find("./devices/interface[@type='udp']")
    assert link.find("mac").get("address") == lab_systemd.LINK_MAC["nfs-client"]
    assert (link.find("source").get("port"), link.find("source/local").get("port")) == ("41002", "41001")
    qemu = "{http://libvirt.org/schemas/domain/qemu/1.0}"
    args = [a.get("value") for a in root.iter(qemu + "arg")]
    assert "user,id=hmuser,hostfwd=tcp:127.0.0.1:40022-:22" in args
    assert any(lab_systemd.USER_MAC in a for a in args)


def test_the_guest_network_files_match_the_macs_the_domains_use():
    import configparser
    macs = set()
    for path in glob.glob(os.path.join(lab_image.GUEST_ROOT, "etc/systemd/network/*.network")):
        cp = configparser.ConfigParser()
        cp.read(path)
        macs.add(cp["Match"]["MACAddress"].lower())
    assert macs == {lab_systemd.USER_MAC, *lab_systemd.LINK_MAC.values()}


@pytest.mark.skipif(not shutil.which("ssh"), reason="no OpenSSH client")
def test_ssh_config_for_the_guests_checks_host_keys(tmp_path):
    access = lab_systemd.Access(str(tmp_path), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm", {"hm-lab-a-plain": 40022})
    access.write()
    out = subprocess.run(["ssh", "-F", access.config, "-G", "hm-lab-a-plain"], capture_output=True, text=True,
                         check=True).stdout.lower().splitlines()
    assert "port 40022" in out and "hostname 127.0.0.1" in out and "user root" in out
    assert "stricthostkeychecking true" in out  # hostmedic refuses an ssh config that turns it off
    assert "hostkeyalias hm-lab-guest" in out


def test_the_image_recipe_key_is_stable_and_follows_the_guest_files(monkeypatch, tmp_path):
    key = lab_image.recipe_key()
    assert key == lab_image.recipe_key() and len(key) == 16
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "x.conf").write_text("a\n")
    monkeypatch.setattr(lab_image, "GUEST_ROOT", str(tmp_path))
    other = lab_image.recipe_key()
    (tmp_path / "etc" / "x.conf").write_text("b\n")
    assert len({key, other, lab_image.recipe_key()}) == 3


def _finding(rule, severity="error", explains=(), summary="s", text=""):
    return {"rule": rule, "severity": severity, "summary": summary, "explanation": text,
            "explains": list(explains)}


def test_judging_a_systemd_diagnosis():
    expect = {"rule": "nfs-mount-hang", "also": ["shutdown-hang"], "names": ["/mnt/nfs"], "grouped": ["hung-task"]}
    good = {"findings": [_finding("nfs-mount-hang", text="/mnt/nfs", explains=[_finding("hung-task", "warning")]),
                         _finding("shutdown-hang")]}
    way = run_lab.lab_diagnose.Way("hook")
    lab_systemd.judge(way, good, {**expect, "also": ["shutdown-hang", "hung-task"]})
    assert lab_systemd.problems([way], {**expect, "also": ["shutdown-hang", "hung-task"]}) == []
    beside = {"findings": [_finding("nfs-mount-hang", text="/mnt/nfs"), _finding("hung-task", "warning")]}
    way = run_lab.lab_diagnose.Way("host")
    lab_systemd.judge(way, beside, expect)
    text = "; ".join(lab_systemd.problems([way], expect))
    assert "hung-task beside nfs-mount-hang" in text and "a shutdown-hang finding" in text
    healthy = {"findings": [_finding("nfs-mount-hang")]}
    way = run_lab.lab_diagnose.Way("journal")
    lab_systemd.judge(way, healthy, {"rule": None, "absent": ["nfs-mount-hang"]})
    text = "; ".join(lab_systemd.problems([way], {"rule": None}))
    assert "leading finding nfs-mount-hang, expected none" in text and "unexpected findings" in text


def test_a_way_can_have_its_own_expectation_and_is_then_left_out_of_the_agreement():
    expect = {"rule": "nfs-mount-hang", "also": ["shutdown-hang"], "names": ["/mnt/nfs"],
              "by_way": {"journal": {"rule": "shutdown-hang", "also": [], "names": []}}}
    both = {"findings": [_finding("nfs-mount-hang", text="/mnt/nfs"), _finding("shutdown-hang")]}
    only = {"findings": [_finding("shutdown-hang")]}
    ways = []
    for name, report in (("hook", both), ("host", both), ("journal", only)):
        way = run_lab.lab_diagnose.Way(name)
        lab_systemd.judge(way, report, lab_systemd.expected(expect, name))
        ways.append(way)
    assert lab_systemd.problems(ways, expect) == []
    ways[1].serious = ["shutdown-hang"]  # the host way is held to the common expectation
    assert any("disagree" in p for p in lab_systemd.problems(ways, expect))


def test_a_scenario_that_breaks_is_reported_and_still_cleaned_up(tmp_path):
    undone = []

    def steps(out, workdir, cleanup):
        cleanup.push("something the scenario made", lambda: undone.append(workdir))
        raise KeyError("a harness bug")

    out = run_lab.guarded({"name": "x"}, str(tmp_path), steps)
    assert not out.passed and "KeyError" in out.problems[0]
    assert undone and not os.path.exists(undone[0])  # its work folder went too


@pytest.mark.skipif(not shutil.which("git") or not os.path.isdir(os.path.join(lab_image.REPO, ".git")),
                    reason="not a git checkout")
def test_the_guest_gets_the_checkout_as_it_is_without_stale_build_output(tmp_path):
    copy = lab_image.checkout_copy(str(tmp_path / "src"))
    assert os.path.isfile(os.path.join(copy, "pyproject.toml"))
    assert os.path.isfile(os.path.join(copy, "engine", "cli.py"))
    assert os.path.isfile(os.path.join(copy, "tests", "lab", "lab_image.py"))
    for ignored in ("build", ".venv", ".git"):
        assert not os.path.exists(os.path.join(copy, ignored))


def test_scenarios_past_the_deadline_are_reported_as_not_run(monkeypatch):
    import argparse
    import time as _time
    ran = []
    args = argparse.Namespace(deadline=100.0, reports=None)
    outcomes = []
    t0 = _time.monotonic() - 60  # 40 s left: enough for a 30 s budget, not for a 50 s one
    run_lab.run_each([{"name": "a", "title": "A"}], 30, lambda sc: ran.append(sc) or run_lab.Outcome(sc),
                     outcomes, args, t0)
    run_lab.run_each([{"name": "b", "title": "B"}], 50, lambda sc: ran.append(sc) or run_lab.Outcome(sc),
                     outcomes, args, t0)
    assert [sc["name"] for sc in ran] == ["a"]
    assert "not run: " in outcomes[1].problems[0] and "deadline" in outcomes[1].problems[0]


def test_a_tree_without_git_is_copied_without_build_output(tmp_path, monkeypatch):
    real = shutil.which
    monkeypatch.setattr(lab_image.shutil, "which", lambda name: None if name == "git" else real(name))
    copy = lab_image.checkout_copy(str(tmp_path / "src"))
    assert os.path.isfile(os.path.join(copy, "engine", "cli.py"))
    for ignored in ("build", ".venv", ".git"):
        assert not os.path.exists(os.path.join(copy, ignored))
