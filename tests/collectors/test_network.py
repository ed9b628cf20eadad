"""The network collector: interfaces, their state, counters and drivers, live and from sos."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

import pytest

from hostmedic.collectors import Context, Options, network
from hostmedic.engine.facts import FactBase
from hostmedic.engine.sources import ABSENT, LocalSource, OK, Result, SosreportSource

DATA = Path(__file__).resolve().parents[1] / "data" / "network"


def nics(base: FactBase) -> dict[str, dict]:
    return {f.get("name"): f.fields for f in base.of_kind("nic")}


def run(source) -> FactBase:
    ctx = Context(source, FactBase(), Options())
    network.collect(ctx)
    return ctx.facts


def test_sosreport_old_iproute2_text_and_ethtool_driver():
    base = run(SosreportSource(str(DATA / "sos-openstack")))
    found = nics(base)
    assert list(found) == ["lo", "ens3", "ens7", "br-ens3", "br-int", "veth1883dceb"]
    ens3 = found["ens3"]
    # a physical NIC enslaved to a bridge is still a NIC: its driver comes from ethtool -i
    assert ens3["driver"] == "virtio_net" and "kind" not in ens3
    assert (ens3["operstate"], ens3["rx_errors"], ens3["tx_errors"]) == ("UP", 0, 0)
    assert found["br-int"]["rx_dropped"] == 1533 and found["br-int"]["kind"] == "openvswitch"
    assert found["br-int"]["operstate"] == "DOWN"
    assert found["veth1883dceb"]["kind"] == "veth" and "driver" not in found["veth1883dceb"]
    assert "carrier_changes" not in ens3  # `ip -s` (one -s) has no carrier transitions
    assert found["ens3"]["text"] == "ens3 (virtio_net): UP, rx errors 0, tx errors 0, rx dropped 0, tx dropped 0"
    prov = next(base.of_kind("nic")).source
    assert (prov.name, prov.line) == ("sos_commands/networking/ip_-s_-d_link", 1)


def test_text_new_iproute2_with_two_s_gives_carrier_changes():
    text = (DATA / "ip_-s_-s_-d_link.iproute2-6.1").read_text()
    links = {l["name"]: l for l in network.parse_ip_link_text(text)}
    assert links["eth0"]["carrier_changes"] == 2 and links["eth0"]["operstate"] == "UP"
    assert links["ifb0"]["kind"] == "ifb"
    one_s = {l["name"]: l for l in network.parse_ip_link_text((DATA / "ip_-s_-d_link.iproute2-6.1").read_text())}
    assert one_s["eth0"]["rx_errors"] == 0 and "carrier_changes" not in one_s["eth0"]


class CannedIp(LocalSource):
    """This host's sysfs under a root folder, and iproute2's JSON as it printed here."""

    def __init__(self, root: Path, json_text: str | None):
        super().__init__(root=str(root))
        self.json_text = json_text

    def run(self, argv: Sequence[str], timeout: float | None = None, sos_paths: Sequence[str] = ()) -> Result:
        name = " ".join(argv)
        if argv[:2] == ["ip", "-j"] and self.json_text is not None:
            return Result(OK, name, self.json_text, rc=0)
        if argv[:2] == ["ip", "-s"]:
            return Result(OK, name, (DATA / "ip_-s_-d_link.iproute2-6.1").read_text(), rc=0)
        return Result(ABSENT, name, detail="not here")


def sysfs(root: Path) -> None:
    eth0 = root / "sys/class/net/eth0"
    (eth0 / "device").mkdir(parents=True)
    (eth0 / "device/uevent").write_text("DRIVER=virtio_net\nMODALIAS=virtio:d00000001v00001AF4\n")
    (eth0 / "carrier_changes").write_text("7\n")
    for q, n in (("tx-0", "3"), ("tx-1", "1")):
        (eth0 / "queues" / q).mkdir(parents=True)
        (eth0 / "queues" / q / "tx_timeout").write_text(n + "\n")
    (eth0 / "queues/rx-0").mkdir()


def test_live_json_with_sysfs_driver_and_tx_timeouts(tmp_path: Path):
    sysfs(tmp_path)
    base = run(CannedIp(tmp_path, (DATA / "ip_-j_-s_-s_-d_link.json").read_text()))
    eth0 = nics(base)["eth0"]
    assert eth0["driver"] == "virtio_net"
    assert eth0["carrier_changes"] == 2  # from the JSON (-s -s); sysfs only when it lacks it
    assert eth0["tx_timeout"] == 4  # summed over the transmit queues
    assert nics(base)["lo"]["operstate"] == "UNKNOWN"
    status = [f.fields for f in base.of_kind("collector_status")][-1]
    assert status["what"] == "ip -j -s -s -d link" and status["status"] == "ok"


def test_live_old_iproute2_without_json_falls_back_to_text(tmp_path: Path):
    sysfs(tmp_path)
    base = run(CannedIp(tmp_path, "Option \"-j\" is unknown, try \"ip -help\".\n"))
    eth0 = nics(base)["eth0"]
    assert eth0["carrier_changes"] == 7  # no JSON, no transns column: sysfs
    assert eth0["driver"] == "virtio_net" and eth0["tx_timeout"] == 4


@pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 not installed")
def test_this_machine():
    found = nics(run(LocalSource()))
    assert "lo" in found and found["lo"]["operstate"] == "UNKNOWN"
    assert all(isinstance(n.get("rx_errors"), int) for n in found.values())


def test_not_collected_is_a_status(tmp_path: Path):
    (tmp_path / "sos_commands" / "kernel").mkdir(parents=True)
    (tmp_path / "version.txt").write_text("sosreport: 4.2\n")
    base = run(SosreportSource(str(tmp_path)))
    [status] = [f.fields for f in base.of_kind("collector_status")]
    assert status["status"] == "absent" and "networking" in status["hint"]
