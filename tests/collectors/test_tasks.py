"""Tasks in state D when the data was taken: ps live (twice, for tasks waiting on NFS), the
kernel stack of each, and sos's ps table."""
from __future__ import annotations

from typing import Sequence

import pytest

from hostmedic.collectors import Context, Options, tasks
from hostmedic.engine.analysis import analyse
from hostmedic.engine.facts import FactBase
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.sources import ABSENT, OK, Result, Source

# `ps -eo pid=,stat=,wchan:64=,comm=` (procps-ng 4.0, Debian 12); the D rows are the lab's
# nfs-writers guest while its NFS server was suspended (dd closing its file, sync)
PS = """\
    1 Ss   do_epoll_wait                                                    systemd
    2 S    kthreadd                                                         kthreadd
  409 D    folio_wait_bit_common                                            dd
  410 D    folio_wait_bit_common                                            sync
  512 D    blk_mq_get_tag                                                   kworker/u2:1
  777 R+   -                                                                ps
"""
# /proc/409/stack (kernel 6.1; the addresses are hidden as [<0>] unless kptr_restrict allows)
DD_STACK = """\
[<0>] folio_wait_bit_common+0x13d/0x380
[<0>] folio_wait_writeback+0x28/0x80
[<0>] __filemap_fdatawait_range+0x90/0x120
[<0>] filemap_write_and_wait_range+0x5f/0x80
[<0>] nfs_wb_all+0x21/0x120 [nfs]
[<0>] nfs4_file_flush+0x6f/0xa0 [nfsv4]
[<0>] filp_close+0x34/0x70
[<0>] __x64_sys_close+0xd/0x50
[<0>] do_syscall_64+0x5d/0xb0
[<0>] entry_SYSCALL_64_after_hwframe+0x6e/0xd8
"""
SYNC_STACK = """\
[<0>] folio_wait_bit_common+0x13d/0x380
[<0>] folio_wait_writeback+0x28/0x80
[<0>] __filemap_fdatawait_range+0x90/0x120
[<0>] filemap_fdatawait_keep_errors+0x1a/0x50
[<0>] sync_inodes_sb+0x221/0x2b0
"""
# Debian's sos 4.0 process plugin (header and the first row verbatim from the lab's guest);
# the D row in the same columns
SOS = """\
F S   UID     PID    PPID    PGID     SID CLS PRI ADDR    SZ WCHAN                                 STARTED TT           TIME CMD
4 S     0       1       0       1       1  TS  19    - 41899 do_epoll_wait        Sun Nov 22 03:57:05 2026 ?        00:00:12 /sbin/init
0 D     0     409     385     385     385  TS  19    -  2038 rpc_wait_bit_killabl Sun Nov 22 03:58:40 2026 ?        00:00:00 ls -l /mnt/nfs
"""


class Live(Source):
    kind = "local"
    live = True

    def __init__(self, looks: list[str], stacks: dict[int, str]):
        self.looks, self.stacks, self.ps_calls = list(looks), stacks, 0

    def run(self, argv: Sequence[str], timeout=None, sos_paths=()) -> Result:
        if argv[0] != "ps":
            return Result(ABSENT, " ".join(argv))
        self.ps_calls += 1
        return Result(OK, " ".join(argv), self.looks.pop(0) if len(self.looks) > 1 else self.looks[0], rc=0)

    def read(self, path: str, sos_paths=()) -> Result:
        pid = int(path.split("/")[2]) if path.startswith("/proc/") else -1
        if pid in self.stacks:
            return Result(OK, path, self.stacks[pid], rc=0)
        return Result(ABSENT, path)


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    monkeypatch.setattr(tasks.time, "sleep", lambda s: None)


def collected(source: Source) -> FactBase:
    ctx = Context(source, FactBase(), Options())
    tasks.collect(ctx)
    return ctx.facts


def test_parsers_read_the_real_formats():
    rows = tasks.parse_ps_eo(PS)
    assert [(r["pid"], r["state"], r["wchan"], r["comm"]) for r in rows][2:] == [
        (409, "D", "folio_wait_bit_common", "dd"), (410, "D", "folio_wait_bit_common", "sync"),
        (512, "D", "blk_mq_get_tag", "kworker/u2:1"), (777, "R+", None, "ps")]
    frames = tasks.parse_stack(DD_STACK)
    assert frames[4:6] == ["nfs_wb_all+0x21/0x120 [nfs]", "nfs4_file_flush+0x6f/0xa0 [nfsv4]"]
    sos = tasks.parse_ps_axo(SOS)
    assert [(r["pid"], r["state"], r["wchan"], r["comm"]) for r in sos] == [
        (1, "S", "do_epoll_wait", "init"), (409, "D", "rpc_wait_bit_killabl", "ls")]
    assert tasks.parse_ps_axo("USER PID %CPU\n") is None


def test_a_task_still_waiting_on_nfs_at_the_second_look_is_confirmed():
    src = Live([PS, PS], {409: DD_STACK, 410: SYNC_STACK})
    facts = collected(src)
    blocked = {f.fields["pid"]: f.fields for f in facts.of_kind("blocked_task")}
    assert set(blocked) == {409, 410, 512}
    assert blocked[409]["in_nfs"] and blocked[409]["confirmed"]
    assert not blocked[410]["in_nfs"]  # sync's stack is generic writeback
    assert not blocked[512]["in_nfs"] and not blocked[512]["confirmed"]
    assert src.ps_calls == 2
    assert [f.fields["blocked"] for f in facts.of_kind("task_states")] == [3]


def test_a_short_rpc_wait_is_not_confirmed_and_a_healthy_host_is_looked_at_once():
    gone = PS.replace("  409 D    folio_wait_bit_common", "  409 S    do_wait              ")
    facts = collected(Live([PS, gone], {409: DD_STACK}))
    dd = next(f.fields for f in facts.of_kind("blocked_task") if f.fields["pid"] == 409)
    assert dd["in_nfs"] and not dd["confirmed"]
    healthy = Live([PS.replace(" D ", " S ")], {})
    collected(healthy)
    assert healthy.ps_calls == 1  # nothing waits on NFS: no second look, no delay


def test_nfs_mount_hang_fires_on_a_confirmed_wait_only():
    pack = load_pack()
    confirmed = analyse(collected(Live([PS, PS], {409: DD_STACK})), pack)
    [lead] = [f for f in confirmed.findings if f.rule == "nfs-mount-hang"]
    assert "dd (pid 409, in folio_wait_bit_common)" in lead.explanation
    gone = PS.replace("  409 D    folio_wait_bit_common", "  409 S    do_wait              ")
    passing = analyse(collected(Live([PS, gone], {409: DD_STACK})), pack)
    assert not [f for f in passing.findings if f.rule == "nfs-mount-hang"]
