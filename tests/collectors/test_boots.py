"""Boot history rebuilt from the journal: how a boot ended, and how long its shutdown took."""
from __future__ import annotations

from hostmedic.collectors import Context, Options, boots
from hostmedic.collectors.logtext import add_log_line, parse_syslog_text
from hostmedic.engine.facts import FactBase
from hostmedic.engine.sources import Source

REFERENCE = 1795320000.0

# The hostmedic lab's cut-in-shutdown scenario (Debian 12, systemd 252), verbatim from the
# guest's journal: a reboot held by a service whose ExecStop hangs, and the guest destroyed
# from the host 75 s later. Nothing reached the disk after the last line of that boot.
CUT = """\
-- Boot 08c7e4cbc5644b15ab6e123336230d75 --
Nov 22 03:37:59 hm-lab-cut-in-shutdown-plain systemd[1]: Started hm-stuck.service - hostmedic lab: a service whose stop hangs.
Nov 22 03:38:01 hm-lab-cut-in-shutdown-plain systemd-logind[242]: The system will reboot now!
Nov 22 03:38:01 hm-lab-cut-in-shutdown-plain systemd-logind[242]: System is rebooting.
Nov 22 03:38:01 hm-lab-cut-in-shutdown-plain systemd[1]: Stopped target multi-user.target - Multi-User System.
Nov 22 03:38:02 hm-lab-cut-in-shutdown-plain systemd[1]: Stopping hm-stuck.service - hostmedic lab: a service whose stop hangs...
Nov 22 03:38:02 hm-lab-cut-in-shutdown-plain systemd[1]: Stopped systemd-network-generator.service - Generate network units from Kernel command line.
-- Boot 58b54401d2b44c6f9e0e7c1f2a3b4c5d --
Nov 22 03:39:27 hm-lab-cut-in-shutdown-plain kernel: Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2
Nov 22 03:39:27 hm-lab-cut-in-shutdown-plain kernel: EXT4-fs (vda): recovery complete
"""


def boot_facts(text: str) -> dict[int, dict]:
    ctx = Context(Source(), FactBase(), Options(), interesting=lambda m: False)
    for line in parse_syslog_text(text, REFERENCE, "journal"):
        add_log_line(ctx, "journal", line, "file", "sos_commands/logs/journalctl_--no-pager")
    boots.collect(ctx)
    return {f.fields["boot"]: f.fields for f in ctx.facts.of_kind("boot")}


def test_a_journal_cut_mid_shutdown_is_bounded_by_the_next_boot():
    cut = boot_facts(CUT)[-1]
    assert cut["shutdown_started"] and not cut["clean_end"]
    assert cut["shutdown_seconds"] == 1.0  # all the journal saw of it
    assert cut["cut_within_seconds"] == 86.0  # the next boot began 1 min 26 s after it started


def test_a_clean_shutdown_has_no_bound_to_give():
    clean = CUT.replace("-- Boot 58b5", "Nov 22 03:38:03 hm-lab-cut-in-shutdown-plain systemd-journald[183]: "
                                        "Journal stopped\n-- Boot 58b5")
    first = boot_facts(clean)[-1]
    assert first["clean_end"] and "cut_within_seconds" not in first
