"""Boot timeline: systemd's "Startup finished in ..." and the slowest unit starts, per boot."""
from __future__ import annotations

import pytest

from hostmedic.collectors import Context, Options, boots, startup
from hostmedic.collectors.logtext import add_log_line, parse_syslog_text
from hostmedic.engine.facts import FactBase
from hostmedic.engine.sources import Source

REFERENCE = 1767225599.0  # end of 2025: text time stamps carry no year


@pytest.mark.parametrize("line,parts", [
    # Ubuntu 20.04 host (systemd 245)
    ("Startup finished in 2.413s (kernel) + 37.178s (userspace) = 39.592s.",
     {"kernel_s": 2.413, "userspace_s": 37.178, "total_s": 39.592}),
    # systemd-analyze's own wording of the same (sos_commands/systemd/systemd-analyze)
    ("Startup finished in 3.511s (kernel) + 1min 26.974s (userspace) = 1min 30.485s ",
     {"kernel_s": 3.511, "userspace_s": 86.974, "total_s": 90.485}),
    # with an initrd, and on EFI machines with firmware and loader
    ("Startup finished in 1.076s (kernel) + 2.583s (initrd) + 6.041s (userspace) = 9.701s.",
     {"kernel_s": 1.076, "initrd_s": 2.583, "userspace_s": 6.041, "total_s": 9.701}),
    ("Startup finished in 8.216s (firmware) + 3.115s (loader) + 1.802s (kernel) + 4.911s (userspace) = 18.045s.",
     {"firmware_s": 8.216, "loader_s": 3.115, "kernel_s": 1.802, "userspace_s": 4.911, "total_s": 18.045}),
    # an LXD container: no kernel, just the total
    ("Startup finished in 1min 23.794s.", {"total_s": 83.794}),
    ("Startup finished in 850ms.", {"total_s": 0.85}),
])
def test_parse_startup_finished(line, parts):
    assert startup.parse_startup_finished(line) == pytest.approx(parts)


@pytest.mark.parametrize("line", ["Startup finished", "Startup finished in a hurry.",
                                  "Reached target Multi-User System."])
def test_not_a_startup_line(line):
    assert startup.parse_startup_finished(line) is None


def test_timespans():
    assert startup.timespan_seconds("1h 2min 3.5s") == 3723.5
    assert startup.timespan_seconds("500us") == 0.0005
    assert startup.timespan_seconds("soon") is None


JOURNAL = """\
-- Boot 3f1c2a9e5b7d4e0f8a6b1c2d3e4f5a6b --
Nov 20 11:00:00 guest1 kernel: Linux version 6.1.0-27-amd64 (debian-kernel@lists.debian.org)
Nov 20 11:00:03 guest1 systemd[1]: Starting systemd-networkd-wait-online.service - Wait for Network to be Configured...
Nov 20 11:02:03 guest1 systemd[1]: Finished systemd-networkd-wait-online.service - Wait for Network to be Configured.
Nov 20 11:02:04 guest1 systemd[1]: Mounting mnt-data.mount - /mnt/data...
Nov 20 11:02:11 guest1 systemd[1]: Mounted mnt-data.mount - /mnt/data.
Nov 20 11:02:11 guest1 systemd[1]: Starting ssh.service - OpenBSD Secure Shell server...
Nov 20 11:02:12 guest1 systemd[1]: Started ssh.service - OpenBSD Secure Shell server.
Nov 20 11:02:12 guest1 systemd[1]: Startup finished in 1.802s (kernel) + 2min 10.006s (userspace) = 2min 11.808s.
Nov 20 11:02:40 guest1 systemd[1201]: Startup finished in 95ms.
Nov 20 13:00:00 guest1 systemd[1]: Starting motd-news.service - Message of the Day...
Nov 20 13:00:30 guest1 systemd[1]: Finished motd-news.service - Message of the Day.
-- Boot 9a8b7c6d5e4f40312a1b2c3d4e5f6a7b --
Nov 20 14:00:00 guest1 kernel: Linux version 6.1.0-27-amd64 (debian-kernel@lists.debian.org)
Nov 20 14:00:05 guest1 systemd[1]: Starting ssh.service - OpenBSD Secure Shell server...
"""


def run_boots(text: str) -> FactBase:
    ctx = Context(Source(), FactBase(), Options(), interesting=lambda m: False)
    for line in parse_syslog_text(text, REFERENCE, "journal"):
        add_log_line(ctx, "journal", line, "file", "journalctl_--no-pager")
    boots.collect(ctx)
    return ctx.facts


def test_startup_and_slowest_units_per_boot():
    base = run_boots(JOURNAL)
    ups = {f.get("boot"): f.fields for f in base.of_kind("startup")}
    assert ups[-1]["finished"] is True
    assert (ups[-1]["kernel_s"], ups[-1]["userspace_s"], ups[-1]["total_s"]) == (1.802, 130.006, 131.808)
    assert ups[-1]["log_seconds"] == 132.0  # first line of the boot to "Startup finished"
    assert ups[-1]["boot_id"] == "3f1c2a9e5b7d4e0f8a6b1c2d3e4f5a6b"
    assert ups[0]["finished"] is False and "no \"Startup finished\"" in ups[0]["text"]
    slow = [f.fields for f in base.of_kind("slow_start")]
    # the user manager's "Startup finished" (systemd[1201]) is not the boot's; motd-news ran
    # from a timer after startup; ssh took 1 s; boot 0's ssh never finished starting
    assert [(s["boot"], s["unit"], s["seconds"]) for s in slow] == [
        (-1, "systemd-networkd-wait-online.service", 120.0), (-1, "mnt-data.mount", 7.0)]
    assert slow[0]["description"] == "Wait for Network to be Configured"
    # boot facts keep their fields and say which log they were rebuilt from
    assert {f.get("log_stream") for f in base.of_kind("boot")} == {"journal"}


def test_older_systemd_names_only_the_description():
    text = ("Feb 04 09:34:05 compute4 systemd[1]: Starting Initial cloud-init job (metadata service crawler)...\n"
            "Feb 04 09:34:17 compute4 systemd[1]: Finished Initial cloud-init job (metadata service crawler).\n")
    slow = [f.fields for f in run_boots(text).of_kind("slow_start")]
    assert [(s["unit"], s["seconds"]) for s in slow] == [
        ("Initial cloud-init job (metadata service crawler)", 12.0)]
