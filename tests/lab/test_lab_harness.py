"""The lab's own parts that need no VM (`make test`); the lab itself runs with `make lab`."""
from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

import lab_fixes
import lab_guest
import lab_scenarios
import run_lab
from hostmedic.engine.rulepack import load_pack
from hostmedic.remediations import MODULES as REMEDIATIONS

SCENARIOS = lab_scenarios.load_all()


def test_six_scenarios_with_distinct_names():
    assert len(SCENARIOS) == 6
    assert len({s["name"] for s in SCENARIOS}) == 6


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
