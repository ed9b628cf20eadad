"""Tasks in uninterruptible sleep (state D) at the time of collection, and where they wait.

Facts
    blocked_task   pid, comm, state, wchan, stack (kernel frames, when readable), in_nfs,
                   confirmed, boot (0: the current boot), text      (one per task in state D)
    task_states    tasks, blocked, source, text              (how many tasks, how many in D)

A process stuck on an NFS server that went away sits in state D for as long as the server is
gone. The kernel reports it as hung only after kernel.hung_task_timeout_secs (120 s by
default), at most ten times a boot, and never a task in a killable wait (an `ls` or an
`open()` waiting for the server). `ps` shows every one of them at once, vmstat's "b" column
counts them.

A busy, healthy NFS client has tasks in short RPC waits at any instant, so one look proves
nothing: when a task waits in NFS or RPC code, the process table is read again CONFIRM_AFTER
seconds later, and `confirmed` says the same task was still waiting there. A sosreport holds
one look only (confirmed: false).

Sources
    live       `ps -eo pid=,stat=,wchan:64=,comm=`, then /proc/PID/stack of each D task
               (root only; without it the wait channel alone says where it sleeps):
                   409 D    folio_wait_bit_common            dd
    sosreport  sos's process plugin, `ps axo flags,state,uid,pid,ppid,pgid,sid,cls,pri,addr,sz,
               wchan:20,lstart,tty,time,cmd` (wait channel cut at 20 characters; Debian's sos 4.0):
                   F S   UID     PID    PPID    PGID     SID CLS PRI ADDR    SZ WCHAN                                 STARTED TT           TIME CMD
                   4 S     0     245       1     245     245  TS  19    -   728 do_sys_pause         Sun Nov 22 03:57:25 2026 ?        00:00:00 /bin/sleep infinity
"""
from __future__ import annotations

import re
import time
from typing import Any

from hostmedic.engine.facts import Provenance

NAME = "tasks"
SOS_PS = ("sos_commands/process/"
          "ps_axo_flags_state_uid_pid_ppid_pgid_sid_cls_pri_addr_sz_wchan_20_lstart_tty_time_cmd")
MAX_STACKS = 50  # D tasks whose kernel stack is read (a storm of them says enough by then)
CONFIRM_AFTER = 5.0  # seconds between the two looks at tasks waiting on NFS
# Kernel code of the NFS client and the RPC layer under it: module tags in a stack
# ("nfs_wb_all+0x21/0x120 [nfs]") or function names in a wait channel ("rpc_wait_bit_killable").
_NFS_CODE = re.compile(r"\[(?:nfs|nfsv3|nfsv4|sunrpc|lockd)\]|^(?:nfs4?|rpc|__rpc)_\w+", re.M)
_STACK_FRAME = re.compile(r"^\[<[0-9a-f]+>\] (?P<frame>\S+(?: \[\w+\])?)|^(?P<bare>\S+\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[\w+\])?)$")


def collect(ctx) -> None:
    confirmed: set[int] = set()
    if ctx.source.live:
        rows, result = _live(ctx)
        waiting = {r["pid"] for r in rows or [] if r["state"].startswith("D") and in_nfs(r)}
        if waiting:
            time.sleep(CONFIRM_AFTER)
            again, _ = _live(ctx, stacks_of=waiting)  # only their stacks matter now
            confirmed = {r["pid"] for r in again or [] if r["pid"] in waiting and r["state"].startswith("D")
                         and in_nfs(r)}
    else:
        result = ctx.source.read("/" + SOS_PS, sos_paths=[SOS_PS])
        rows = parse_ps_axo(result.text) if result.ok else None
    if rows is None:
        ctx.status(NAME, result, hint="the process table is missing: tasks blocked in the kernel "
                                      "right now (an NFS hang, a dead disk) are not known")
        return
    blocked = [r for r in rows if r["state"].startswith("D")]
    for row in blocked:
        fields = {k: v for k, v in row.items() if k != "lineno" and v not in (None, "")}
        fields["in_nfs"] = in_nfs(row)
        fields["confirmed"] = row["pid"] in confirmed
        fields["boot"] = 0
        where = row.get("wchan") or "?"
        fields["text"] = (f"{row['comm']} (pid {row['pid']}) in state D, waiting in {where}"
                          + (" (NFS/RPC code)" if fields["in_nfs"] else "")
                          + (f", still there {CONFIRM_AFTER:g} s later" if fields["confirmed"] else ""))
        ctx.add("blocked_task", fields, Provenance("command", result.name, row.get("lineno")))
    ctx.add("task_states", {"tasks": len(rows), "blocked": len(blocked), "source": result.name,
                            "text": f"{result.name}: {len(rows)} tasks, {len(blocked)} in state D"},
            Provenance("command", result.name))
    ctx.status(NAME, "ok", detail=f"{len(blocked)} of {len(rows)} tasks in state D", name=result.name)


def in_nfs(row: dict[str, Any]) -> bool:
    return bool(_NFS_CODE.search(f"{row.get('wchan') or ''}\n{row.get('stack') or ''}"))


def _live(ctx, stacks_of: set[int] | None = None) -> tuple[list[dict[str, Any]] | None, Any]:
    """The process table, with the kernel stack of each D task (of those in STACKS_OF)."""
    result = ctx.source.run(["ps", "-eo", "pid=,stat=,wchan:64=,comm="])
    if not result.ok:
        return None, result
    rows = parse_ps_eo(result.text)
    blocked = [r for r in rows if r["state"].startswith("D") and (stacks_of is None or r["pid"] in stacks_of)]
    for row in blocked[:MAX_STACKS]:
        stack = ctx.source.read(f"/proc/{row['pid']}/stack")
        if stack.ok:
            frames = parse_stack(stack.text)
            if frames:
                row["stack"] = "\n".join(frames)
    return rows, result


def parse_ps_eo(text: str) -> list[dict[str, Any]]:
    """`ps -eo pid=,stat=,wchan:64=,comm=`: pid, state, wait channel ("-" when running), name."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[0].isdecimal():
            rows.append({"pid": int(parts[0]), "state": parts[1], "comm": parts[3].strip(),
                         "wchan": None if parts[2] == "-" else parts[2], "lineno": lineno})
    return rows


def parse_ps_axo(text: str) -> list[dict[str, Any]] | None:
    """sos's `ps axo flags,state,uid,pid,...,wchan:20,lstart,tty,time,cmd`; None when the text
    is not that table. lstart is five words ("Sun Nov 22 03:28:51 2026")."""
    lines = text.splitlines()
    if not lines or lines[0].split()[:4] != ["F", "S", "UID", "PID"]:
        return None
    rows = []
    for lineno, line in enumerate(lines[1:], 2):
        parts = line.split()
        if len(parts) < 20 or not parts[3].isdecimal():
            continue
        cmd = " ".join(parts[19:])
        rows.append({"pid": int(parts[3]), "state": parts[1], "wchan": None if parts[11] == "-" else parts[11],
                     "comm": cmd.split()[0].rsplit("/", 1)[-1] if cmd else "?", "command": cmd, "lineno": lineno})
    return rows


def parse_stack(text: str) -> list[str]:
    """/proc/PID/stack: "[<0>] nfs_wb_all+0x21/0x120 [nfs]" (addresses hidden) -> frames."""
    frames = []
    for line in text.splitlines():
        m = _STACK_FRAME.match(line.strip())
        if m:
            frames.append(m["frame"] or m["bare"])
    return frames
