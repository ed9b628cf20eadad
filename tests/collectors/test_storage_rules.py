"""Storage rules together: the specific finding leads and the generic ones it explains sit
under it (supersedes + shared evidence), through the whole pack as a real run uses it."""
from __future__ import annotations

from hostmedic.engine.analysis import analyse
from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.ruletest import example_facts

PACK = load_pack()


def tree(example: dict) -> dict[str, list[str]]:
    base = example_facts(PACK.get("disk-io-error"), {"name": "combined", **example})
    return {f.rule: sorted(x.rule for x in f.explains) for f in analyse(base, PACK).findings}


def test_lost_iscsi_session_explains_the_io_errors_that_followed():
    # linux-btrfs mailing list report (journal lines verbatim)
    found = tree({"log": """\
Dec 30 03:45:09 hostname kernel:  connection1:0: ping timeout of 5 secs expired, recv timeout 5, last rx 4461894664, last ping 4461895936, now 4461897216
Dec 30 03:45:09 hostname kernel:  connection1:0: detected conn error (1022)
Dec 30 03:47:10 hostname kernel:  session1: session recovery timed out after 120 secs
Dec 30 03:47:10 hostname kernel: sd 4:0:0:1: rejecting I/O to offline device
Dec 30 03:47:10 hostname kernel: blk_update_request: I/O error, dev sdc, sector 523542288 op 0x1:(WRITE) flags 0x104000 phys_seg 128 prio class 0
"""})
    assert found == {"iscsi-session-error": ["disk-io-error"]}


def test_failing_disk_explains_its_io_errors():
    found = tree({
        "log": """\
Mar 03 02:14:09 nas3 kernel: sd 8:0:0:0: [sdc] tag#255 Sense Key : Medium Error [current]
Mar 03 02:14:09 nas3 kernel: blk_update_request: critical medium error, dev sdc, sector 10000 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0
""",
        "facts": [{"kind": "smart_device", "device": "/dev/sdc", "disk": "sdc", "protocol": "ata",
                   "model": "ST4000VN008-2DR166", "serial": "--", "health": "FAILED", "virtual": False,
                   "smart_available": True, "failing_attributes": "Reallocated_Sector_Ct (now)",
                   "reallocated": 41520, "pending": 24016, "offline_uncorrectable": 24016,
                   "text": "/dev/sdc (ST4000VN008-2DR166): SMART overall-health self-assessment test result: FAILED!"}]})
    assert found == {"disk-smart-failing": ["disk-io-error"]}


def test_corruption_explains_the_read_only_remount():
    found = tree({"log": """\
Mar 14 21:10:06 fileserver kernel: [ 1034.566823] EXT4-fs error (device md8): ext4_lookup:1047: inode #382664705: comm ls: deleted inode referenced: 382667302
Mar 14 21:10:06 fileserver kernel: [ 1034.567184] Aborting journal on device md8-8.
Mar 14 21:10:06 fileserver kernel: [ 1034.623688] EXT4-fs (md8): Remounting filesystem read-only
"""})
    assert found == {"fs-corruption": ["fs-remounted-readonly"]}


def test_write_errors_then_read_only_is_not_corruption():
    # the lab's wording, on a physical disk: write errors explain the ext4 error, so the
    # generic findings and no corruption claim
    found = tree({"log": """\
Nov 20 10:30:01 nas1 kernel: I/O error, dev sda, sector 976773120 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 2
Nov 20 10:30:01 nas1 kernel: EXT4-fs error (device sda1): ext4_check_bdev_write_error:217: comm touch: Error while async write back metadata
Nov 20 10:30:01 nas1 kernel: EXT4-fs (sda1): Remounting filesystem read-only
"""})
    assert "fs-corruption" not in found
    assert {"disk-io-error", "fs-remounted-readonly"} <= set(found)


def test_md_member_failure_in_the_log_but_array_whole_now():
    found = tree({
        "log": "Mar 07 15:32:54 vagrant kernel: [16371.294914] md/raid1:md0: Disk failure on sdb1, disabling device.\n",
        "facts": [{"kind": "md_array", "name": "md0", "array": "md0", "state": "active", "level": "raid1",
                   "devices_total": 2, "devices_up": 2, "members": "sdb1,sdc1", "failed_members": "none",
                   "failed_count": 0, "spares": "none", "recovery": "none", "degraded": False,
                   "text": "md0 : active raid1 sdb1[2] sdc1[1]"}]})
    assert "mdraid-degraded" not in found
