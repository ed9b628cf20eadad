"""Which units failed in each boot and whether they came back (unit_failure facts from boots)."""
from __future__ import annotations

from hostmedic.collectors import Context, Options, boots
from hostmedic.collectors.logtext import add_log_line, parse_syslog_text
from hostmedic.engine.facts import FactBase
from hostmedic.engine.sources import Source

REFERENCE = 1767225599.0

# Ubuntu 20.04 (systemd 245) wording: restarts until the start limit, an LSB script, a unit
# restarted by hand (named by its description only), one that failed in the shutdown before.
JOURNAL = """\
-- Boot 7b8c9d0e1f2a43b4c5d6e7f8a9b0c1d2 --
Feb 04 10:50:00 node1 systemd[1]: Starting Router advertisement daemon for IPv6...
Feb 04 10:58:01 node1 systemd[1]: Stopping Create final runtime dir for shutdown pivot root...
Feb 04 10:58:01 node1 systemd[1]: Stopped target Multi-User System.
Feb 04 10:58:01 node1 systemd[1]: finalrd.service: Control process exited, code=exited, status=32/n/a
Feb 04 10:58:01 node1 systemd[1]: finalrd.service: Failed with result 'exit-code'.
Feb 04 10:58:07 node1 systemd[1]: Shutting down.
Feb 04 10:58:07 node1 systemd-journald[62]: Journal stopped
-- Boot 8c9d0e1f2a3b44c5d6e7f8a9b0c1d2e3 --
Feb 09 22:33:35 node1 systemd[1]: openipmi.service: Control process exited, code=exited, status=1/FAILURE
Feb 09 22:33:35 node1 systemd[1]: openipmi.service: Failed with result 'exit-code'.
Feb 09 22:33:35 node1 systemd[1]: Failed to start LSB: OpenIPMI Driver init script.
Feb 09 22:34:35 node1 systemd[1]: vault.service: Main process exited, code=exited, status=1/FAILURE
Feb 09 22:34:35 node1 systemd[1]: vault.service: Failed with result 'exit-code'.
Feb 09 22:34:35 node1 systemd[1]: vault.service: Scheduled restart job, restart counter is at 1.
Feb 09 22:34:36 node1 systemd[1]: Started HashiCorp Vault.
Feb 09 22:34:57 node1 systemd[1]: vault.service: Scheduled restart job, restart counter is at 10.
Feb 09 22:34:57 node1 systemd[1]: vault.service: Start request repeated too quickly.
Feb 09 22:34:57 node1 systemd[1]: vault.service: Failed with result 'exit-code'.
Feb 09 22:34:57 node1 systemd[1]: Failed to start HashiCorp Vault.
Feb 09 22:40:00 node1 systemd[1]: radvd.service: Failed with result 'exit-code'.
Feb 09 22:40:00 node1 systemd[1]: Failed to start Router advertisement daemon for IPv6.
Feb 09 22:45:00 node1 systemd[1]: Starting Router advertisement daemon for IPv6...
Feb 09 22:45:00 node1 systemd[1]: Started Router advertisement daemon for IPv6.
Feb 09 22:50:00 node1 systemd[1201]: gpg-agent.socket: Failed with result 'resources'.
"""


def failures(text: str = JOURNAL) -> dict[tuple[int, str], dict]:
    ctx = Context(Source(), FactBase(), Options(), interesting=lambda m: False)
    for line in parse_syslog_text(text, REFERENCE, "journal"):
        add_log_line(ctx, "journal", line, "file", "sos_commands/logs/journalctl_--no-pager")
    boots.collect(ctx)
    return {(f.get("boot"), f.get("unit")): f for f in ctx.facts.of_kind("unit_failure")}


def test_failed_units_and_whether_they_came_back():
    found = failures()
    # the user manager's (systemd[1201]) units are not the system's
    assert sorted(found) == [(-1, "finalrd.service"), (0, "openipmi.service"), (0, "radvd.service"),
                             (0, "vault.service")]
    vault = found[(0, "vault.service")]
    assert (vault.get("failures"), vault.get("restarts"), vault.get("recovered")) == (2, 10, False)
    assert vault.get("description") == "HashiCorp Vault" and vault.get("result") == "exit-code"
    assert vault.get("current") is True and vault.get("during_shutdown") is False
    assert vault.get("line") == "vault.service: Failed with result 'exit-code'."
    assert vault.source.name == "sos_commands/logs/journalctl_--no-pager" and vault.source.line == 19
    assert found[(0, "openipmi.service")].get("recovered") is False
    # restarted by hand: systemd 245 names only the description in "Started ..."
    assert found[(0, "radvd.service")].get("recovered") is True
    finalrd = found[(-1, "finalrd.service")]
    assert finalrd.get("during_shutdown") is True and finalrd.get("current") is False


def test_systemd_250_names_the_unit_and_centos7_wording():
    text = ("Nov 21 09:25:05 h systemd[1]: nginx.service: Failed with result 'exit-code'.\n"
            "Nov 21 09:25:05 h systemd[1]: Failed to start nginx.service - A high performance web server.\n"
            "Nov 21 09:31:40 h systemd[1]: Started nginx.service - A high performance web server.\n"
            "Jan 09 02:10:11 h systemd[1]: Unit httpd.service entered failed state.\n"
            "Jan 09 02:10:16 h systemd[1]: httpd.service holdoff time over, scheduling restart.\n")
    found = failures(text)
    assert found[(0, "nginx.service")].get("recovered") is True
    assert found[(0, "httpd.service")].get("recovered") is True
    assert found[(0, "httpd.service")].get("result") == "unknown"
