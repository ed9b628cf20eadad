"""How the kernel, memory and I/O-load rules sit with the rest of the pack: the specific
finding leads and the generic one it explains goes under it, and alternatives that stand in
for lost log lines do not double a finding."""
from __future__ import annotations

from hostmedic.engine.analysis import analyse
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.ruletest import example_facts

PACK = load_pack()


def run(example: dict, rule_id: str = "hung-task"):
    return analyse(example_facts(PACK.get(rule_id), example), PACK)


def tree(findings) -> dict[str, list[str]]:
    return {f.rule: sorted(x.rule for x in f.explains) for f in findings}


def example(rule_id: str, name: str) -> dict:
    rule = PACK.get(rule_id)
    return next(e for pol in ("positive", "negative") for e in rule.data["examples"][pol] if e["name"] == name)


def test_a_hung_task_in_nfs_goes_under_nfs_mount_hang():
    ex = example("nfs-mount-hang", "NFSv4 hard mount, server suspended, writer blocked in nfs4_file_flush (kernel 6.1)")
    result = tree(run(ex).findings)
    assert result == {"nfs-mount-hang": ["hung-task"]}


def test_a_hung_task_outside_nfs_leads_on_its_own():
    ex = example("nfs-mount-hang", "hung task in ext4/jbd2, not NFS")
    assert tree(run(ex).findings) == {"hung-task": []}


def test_an_oom_kill_after_the_balloon_goes_under_memballoon_oom():
    ex = example("memballoon-oom", "Debian 12 guest (kernel 6.1), balloon set to 128 MiB of 256 MiB, dd killed")
    assert tree(run(ex).findings) == {"memballoon-oom": ["oom-kill"]}


def test_a_memory_cgroup_oom_in_a_ballooned_guest_is_a_plain_oom_kill():
    ex = example("memballoon-oom", "a memory-cgroup limit OOM in a ballooned guest (a container limit, not the balloon)")
    findings = run(ex).findings
    assert tree(findings) == {"oom-kill": []}
    assert findings[0].matches[0].name.startswith("a memory cgroup ran out")


def test_the_vmstat_counter_does_not_double_an_oom_kill_found_in_the_logs():
    ex = dict(example("oom-kill", "Debian 12 guest (6.1), dd killed by the global OOM killer, no balloon"))
    ex["facts"] = [{"kind": "vmstat", "pswpin": 0, "pswpout": 0, "pgmajfault": 10, "oom_kill": 1,
                    "text": "proc/vmstat: oom_kill 1"}]
    findings = [f for f in run(ex, "oom-kill").findings if f.rule == "oom-kill"]
    assert len(findings) == 1
    assert {m.name for m in findings[0].matches} == {
        "the global OOM killer killed a process (the whole machine ran out of memory)"}
    assert "dd (pid 111)" in findings[0].explanation and "anon-rss" not in findings[0].summary


def test_a_guest_console_panic_is_reported_for_that_domain():
    ex = example("kernel-panic-oops", "a guest's serial console on the host ends in a panic (VFS cannot mount root)")
    (finding,) = [f for f in run(ex, "kernel-panic-oops").findings if f.rule == "kernel-panic-oops"]
    assert finding.group["domain"] == "web7"
    assert finding.summary == "Kernel panic: VFS: Unable to mount root fs on unknown-block(0,0) in domain web7"


def test_thrashing_and_saturation_explain_with_the_period():
    ex = example("swap-thrashing", "two minutes of swapping both ways, about 4500 pages/s each way (sar -W of a real thrash under a memory cgroup limit)")
    (finding,) = run(ex, "swap-thrashing").findings
    assert "2026-11-22 00:20 to 2026-11-22 00:23" in finding.explanation
    assert finding.summary.startswith("Heavy swapping both ways for 2min 10s")
    ex = example("io-saturation", "an Azure VM's virtual disk stalling for an hour (real sar -d, await 1 to 18 s)")
    (finding,) = run(ex, "io-saturation").findings
    assert finding.summary == "dev8-0 saturated for 1h 40min (2014-08-01 07:15 to 2014-08-01 09:15): await up to 18722 ms"


def test_a_mount_unit_blocking_shutdown_is_explained_by_its_mount_timeout():
    ex = dict(example("nfs-mount-hang", "NFS v4.2 unmount blocks the reboot until the mount unit times out (systemd 252)"))
    # `systemctl show mnt-nfs.mount` on Debian 12: a mount unit has TimeoutUSec, and no ExecStop
    ex["facts"] = [{"kind": "unit_props", "unit": "mnt-nfs.mount", "TimeoutUSec": "1min 30s",
                    "TimeoutStopUSec": "1min 30s", "After": "network-online.target remote-fs-pre.target",
                    "text": "mnt-nfs.mount: After=network-online.target remote-fs-pre.target"}]
    findings = run(ex, "shutdown-hang").findings
    hang = next(f for f in [*findings, *(x for f in findings for x in f.explains)] if f.rule == "shutdown-hang")
    assert "mnt-nfs.mount waits up to 1min 30s to unmount" in hang.explanation
    assert "x-systemd.mount-timeout=" in hang.explanation
    assert "ExecStop" not in hang.explanation


def test_blocked_nfs_writers_name_the_server_and_mount_even_after_it_came_back():
    ex = example("nfs-mount-hang", "the server came back, but a writer and sync had been blocked on it (lab, kernel 6.1)")
    [lead] = run(ex, "nfs-mount-hang").findings
    assert lead.rule == "nfs-mount-hang"
    assert [x.rule for x in lead.explains] == ["hung-task"]  # sync's trace has no NFS frame: still under it
    assert "NFS server 10.77.0.1 stopped answering" in lead.summary
    assert "(mounted on /mnt/nfs)" in lead.explanation and "answered again later" in lead.explanation
    assert "dd (pid 409" in lead.explanation


def test_a_redrawn_console_stop_job_is_told_once_at_its_latest():
    ex = example("shutdown-hang", "an NFS unmount's stop job redrawn on the console for a minute (lab, systemd 252)")
    [hang] = run(ex, "shutdown-hang").findings
    told = [l for l in hang.explanation.splitlines() if "showed a stop job" in l]
    assert len(told) == 1
    assert "mnt-nfs.mount (54s of 1min 31s, the last of 5 status lines)" in told[0]
    assert "stalled on mnt-nfs.mount" in hang.summary
