"""The node_exporter probe: threshold logic on canned exposition text (a node whose disk is
nearly full, low memory, high load, filters), then the real Debian prometheus-node-exporter."""

from __future__ import annotations

import os
from typing import Any

import pytest

from probes import node_exporter as ne
from probes.base import ProbeContext, Status

Peer = Any  # tests.peers.Peer

NEAR_FULL_NODE = """\
# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 4.1e9
node_filesystem_avail_bytes{device="/dev/sdb1",fstype="xfs",mountpoint="/var/lib/containerd"} 8e9
node_filesystem_avail_bytes{device="/dev/sdc1",fstype="xfs",mountpoint="/data"} 60e9
node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 1e6
node_filesystem_avail_bytes{device="overlay",fstype="overlay",mountpoint="/var/lib/docker/overlay2/x/merged"} 0
node_filesystem_avail_bytes{device="/dev/sdd1",fstype="ext4",mountpoint="/broken"} 0
# TYPE node_filesystem_size_bytes gauge
node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 100e9
node_filesystem_size_bytes{device="/dev/sdb1",fstype="xfs",mountpoint="/var/lib/containerd"} 100e9
node_filesystem_size_bytes{device="/dev/sdc1",fstype="xfs",mountpoint="/data"} 100e9
node_filesystem_size_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 1e9
node_filesystem_size_bytes{device="overlay",fstype="overlay",mountpoint="/var/lib/docker/overlay2/x/merged"} 100e9
node_filesystem_size_bytes{device="/dev/sdd1",fstype="ext4",mountpoint="/broken"} 0
# TYPE node_filesystem_device_error gauge
node_filesystem_device_error{device="/dev/sdd1",fstype="ext4",mountpoint="/broken"} 1
node_filesystem_device_error{device="/dev/sda1",fstype="ext4",mountpoint="/"} 0
# TYPE node_filesystem_readonly gauge
node_filesystem_readonly{device="/dev/sda1",fstype="ext4",mountpoint="/"} 0
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 1.44e9
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 16e9
# TYPE node_load1 gauge
node_load1 12.5
# TYPE node_load5 gauge
node_load5 9.0
node_load15 4.0
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 100
node_cpu_seconds_total{cpu="0",mode="user"} 10
node_cpu_seconds_total{cpu="1",mode="idle"} 100
node_cpu_seconds_total{cpu="2",mode="idle"} 100
node_cpu_seconds_total{cpu="3",mode="idle"} 100
# TYPE go_goroutines gauge
go_goroutines 8
"""


def check(url: str = "http://127.0.0.1:9100/metrics", **settings: Any) -> ne.Check:
    return ne.Check(name="node1", component="nodes", url=url, **settings)


def judge(text: str, **settings: Any):
    facts = ne.parse(text)
    assert facts is not None
    return ne.judge(check(**settings), facts)


def test_near_full_node_names_every_crossed_level_worst_first() -> None:
    result = judge(NEAR_FULL_NODE)
    assert result.status is Status.DOWN
    assert result.reason == (
        "filesystem / 4.1% free (< 5% critical); filesystem /var/lib/containerd 8.0% free (< 10% warn); "
        "memory 9.0% available (< 10% warn); load5 2.25 per CPU (> 2 warn)"
    )
    # tmpfs and overlay are left out by default; a filesystem the exporter could not stat too.
    assert [fs["mountpoint"] for fs in result.details["filesystems"]] == ["/", "/data", "/var/lib/containerd"]
    root = result.details["filesystems"][0]
    assert root == {"mountpoint": "/", "fstype": "ext4", "device": "/dev/sda1", "free_percent": 4.1,
                    "avail_bytes": 4.1e9, "size_bytes": 100e9, "readonly": False}
    assert result.details["memory"] == {"available_percent": 9.0, "available_bytes": 1.44e9, "total_bytes": 16e9}
    assert result.details["load"] == {"load1": 12.5, "load5": 9.0, "load15": 4.0, "cpus": 4, "per_cpu": 2.25,
                                      "metric": "load5"}


def test_levels_are_configurable_per_metric() -> None:
    result = judge(NEAR_FULL_NODE, filesystem={"warn": 5, "critical": 2}, memory={"warn": 9, "critical": 5},
                   load={"metric": "load1", "warn": 2, "critical": 3})
    assert result.status is Status.DOWN
    assert result.reason == "load1 3.12 per CPU (> 3 critical); filesystem / 4.1% free (< 5% warn)"

    calm = judge(NEAR_FULL_NODE, filesystem={"warn": 4, "critical": 1}, memory=None, load={"warn": 3})
    assert calm.status is Status.UP
    assert calm.reason == "lowest free / 4.1%, load5 2.25 per CPU"
    assert "memory" not in calm.details


def test_filesystem_filters() -> None:
    only_data = judge(NEAR_FULL_NODE, filesystem={"mountpoints_include": "/data"}, memory=None, load=None)
    assert only_data.status is Status.UP
    assert [fs["mountpoint"] for fs in only_data.details["filesystems"]] == ["/data"]

    no_root = judge(NEAR_FULL_NODE, filesystem={"mountpoints_exclude": "/|/var/.*"}, memory=None, load=None)
    assert no_root.status is Status.UP and no_root.reason == "lowest free /data 60.0%"

    with_tmpfs = judge(NEAR_FULL_NODE, filesystem={"fstypes_exclude": [], "fstypes_include": ["tmpfs"]},
                       memory=None, load=None)
    assert with_tmpfs.reason == "filesystem /run 0.1% free (< 5% critical)"

    nothing = judge(NEAR_FULL_NODE, filesystem={"fstypes_include": ["btrfs"]}, memory=None, load=None)
    assert nothing.status is Status.DEGRADED
    assert nothing.reason == "filesystem: no filesystem left after the filters"


def test_missing_families_degrade_the_threshold_that_needs_them() -> None:
    text = "\n".join(line for line in NEAR_FULL_NODE.splitlines()
                     if "node_memory" not in line and "node_cpu" not in line)
    result = judge(text, filesystem=None)
    assert result.status is Status.DEGRADED
    assert result.reason == ("memory: node_memory_MemAvailable_bytes/MemTotal_bytes missing; "
                             'load: node_cpu_seconds_total{mode="idle"} missing')
    assert ne.parse("<html>not metrics</html>") is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"filesystem": {"warn": 3, "critical": 5}}, "warn must not be below critical"),
        ({"load": {"warn": 4, "critical": 3}}, "warn must not be above critical"),
        ({"memory": {"warn": 120}}, "less than or equal to 100"),
        ({"filesystem": {"mountpoints_include": "("}}, "not a valid regular expression"),
        ({"url": "node1:9100/metrics"}, r"must be http\(s\)://host"),
    ],
)
def test_settings_are_validated(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check(**settings)


# --- against the real exporter --------------------------------------------------------------------


def _statvfs_free_percent(path: str) -> float:
    st = os.statvfs(path)
    return 100.0 * st.f_bavail / st.f_blocks


async def test_real_exporter_healthy_node(node_exporter: Peer, ctx: ProbeContext) -> None:
    # "/" whatever its type (overlay in a container), judged like any other filesystem.
    every_root = {"fstypes_exclude": [], "mountpoints_include": "/", "warn": 0.01, "critical": 0.001}
    result = await node_exporter_probe(node_exporter, ctx, filesystem=every_root, load=None)
    assert result.status is Status.UP, result.reason
    (root,) = result.details["filesystems"]
    assert root["mountpoint"] == "/"
    assert abs(root["free_percent"] - _statvfs_free_percent("/")) < 1.0
    assert 0 < result.details["memory"]["available_percent"] <= 100
    assert set(result.details["phases"]) == {"scrape", "parse"}
    assert result.reason.startswith("lowest free / ")


async def test_real_exporter_thresholds_name_what_crossed(node_exporter: Peer, ctx: ProbeContext) -> None:
    every_root = {"fstypes_exclude": [], "mountpoints_include": "/", "warn": 100, "critical": 0.001}
    result = await node_exporter_probe(node_exporter, ctx, filesystem=every_root, memory=None, load=None)
    assert result.status is Status.DEGRADED
    assert result.reason.startswith("filesystem / ") and result.reason.endswith("% free (< 100% warn)")

    result = await node_exporter_probe(node_exporter, ctx, filesystem=None, memory={"critical": 100, "warn": 100},
                                       load=None)
    assert result.status is Status.DOWN
    assert result.reason.startswith("memory ") and result.reason.endswith("% available (< 100% critical)")

    result = await node_exporter_probe(node_exporter, ctx, filesystem=None, memory=None,
                                       load={"metric": "load15", "warn": 0, "critical": 1000})
    load = result.details["load"]
    assert load["cpus"] == os.cpu_count()
    assert abs(load["load15"] - os.getloadavg()[2]) < 0.5
    if load["load15"] > 0:  # an idle machine may really show 0.00
        assert result.status is Status.DEGRADED
        assert result.reason == f"load15 {load['per_cpu']:.2f} per CPU (> 0 warn)"


async def test_real_exporter_failures(node_exporter: Peer, ctx: ProbeContext) -> None:
    result = await node_exporter_probe(node_exporter, ctx, path="/metrics?collect[]=nope")
    assert (result.status, result.reason) == (Status.DOWN, "HTTP 400 (expected 200)")
    # Only the loadavg collector: what the other thresholds need is missing.
    result = await node_exporter_probe(node_exporter, ctx, path="/metrics?collect[]=loadavg")
    assert (result.status, result.reason) == (Status.DEGRADED, (
        "filesystem: node_filesystem_avail_bytes/size_bytes missing; memory: node_memory_MemAvailable_bytes/"
        'MemTotal_bytes missing; load: node_cpu_seconds_total{mode="idle"} missing'))
    result = await node_exporter_probe(node_exporter, ctx, path="/")  # its HTML landing page
    assert result.reason.startswith("no node exporter metrics in the response")
    result = await node_exporter_probe(node_exporter, ctx, max_body_bytes=1024)
    assert result.reason == "response larger than max_body_bytes (1024 bytes)"
    node_exporter.stop()
    result = await node_exporter_probe(node_exporter, ctx)
    assert (result.status, result.reason) == (Status.DOWN, "connection refused")


async def node_exporter_probe(peer: Peer, ctx: ProbeContext, path: str = "/metrics", **settings: Any):
    return await ne.probe(check(f"{peer.url}{path}", **settings), ctx)
