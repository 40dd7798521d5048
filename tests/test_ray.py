"""Load sweeps and comparisons on a real local Ray: one cluster for the module
(``ray.cluster_utils.Cluster``: a head and two fake nodes carrying ``region:a`` / ``region:b``),
the sim on loopback. Same runs as local shards, placement by region, an actor killed
mid-level, an interrupt, an unreachable cluster."""

from __future__ import annotations

import _thread
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'kral-nb[ray]'")
from ray.cluster_utils import Cluster

import kral_nb
from kral_nb.loadgen import raypool


@pytest.fixture(scope="module")
def cluster(sim_root: str) -> Iterator[Cluster]:
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    c.add_node(num_cpus=1, resources={"region:a": 1})
    c.add_node(num_cpus=1, resources={"region:b": 1})
    ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
    c.wait_for_nodes()
    yield c
    ray.shutdown()
    c.shutdown()


def _key(runs: pd.DataFrame) -> list[tuple]:
    return sorted(zip(runs["status"].astype(str), runs["text"], runs["output_tokens"], strict=True))


def test_the_same_sweep_locally_and_on_ray_gives_the_same_runs(cluster: Cluster) -> None:
    model = "sim:steady+n=8+seed=ray1"
    local = kral_nb.load("hi", [model], concurrency=[2], requests=6, shards=2, progress=False)
    on_ray = kral_nb.load("hi", [model], concurrency=[2], requests=6, shards=2, progress=False, cluster="ray")
    assert len(on_ray) == len(local) == 6 and _key(on_ray.runs) == _key(local.runs)
    assert set(on_ray.runs["status"].astype(str)) == {"ok"} and set(on_ray.runs["shard"]) == {0, 1}
    assert on_ray.runs["host"].str.len().gt(0).all() and (local.runs["region"] == "").all()
    assert (on_ray.runs["clock_offset_s"].abs() < 1).all()  # one machine: the clocks agree
    assert (on_ray.runs["sent_s"] >= 0).all() and on_ray.runs["sent_s"].max() < 5  # the shards' own start
    assert on_ray.chunks["run_id"].nunique() == 6 and on_ray.levels.iloc[0]["completed"] == 6
    # the actors run the loop a local shard runs (Ray would give them uvloop), so the stamps match
    assert on_ray.levels["loop"].tolist() == local.levels["loop"].tolist()
    assert on_ray.levels["stamps"].tolist() == local.levels["stamps"].tolist()


def test_the_same_workload_sends_the_same_requests_locally_and_on_ray(cluster: Cluster) -> None:
    """Each shard (a process or an actor) builds its share of a workload's requests: the same
    requests, sessions and turns either way."""
    from kral_nb import workloads

    wl = workloads.sessions(workloads.synthetic(60, 6, input_sd=10, seed=4), turns=2)
    kw = {"concurrency": [2], "requests": 8, "shards": 2, "progress": False}
    local = kral_nb.load(wl, ["sim:instant+n=6"], **kw)
    on_ray = kral_nb.load(wl, ["sim:instant+n=6"], cluster="ray", **kw)

    def sent(runs: pd.DataFrame) -> list[tuple]:
        return sorted(zip(runs["session_id"], runs["turn"], runs["request_key"], runs["input_tokens_requested"],
                          strict=True))

    assert set(on_ray.runs["status"].astype(str)) == {"ok"} and sent(on_ray.runs) == sent(local.runs)


def test_regions_place_shards_and_fill_the_region_column(cluster: Cluster) -> None:
    nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
    for region in ("a", "b"):  # the actor of a region runs on the node carrying it
        actor = raypool.new_actor(ray, region, "probe")
        info = raypool.actor_info(ray, actor)
        assert f"region:{region}" in nodes[info["node_id"]] and info["region"] == region
        ray.kill(actor)
    where = kral_nb.RayCluster(regions=("a", "b"))
    lr = kral_nb.load("hi", ["sim:steady+n=5+seed=ray2"], concurrency=[2], requests=4, progress=False, cluster=where)
    runs = lr.runs
    assert set(runs["status"].astype(str)) == {"ok"}
    assert dict(zip(runs["shard"], runs["region"], strict=True)) == {0: "a", 1: "b"}
    r = kral_nb.compare("hi", ["sim:fast+seed=ray3"], repeat=2, cluster=where)  # the comparison from each region
    assert len(r) == 4 and sorted(r.runs["region"]) == ["a", "a", "b", "b"]
    assert set(r.runs["status"].astype(str)) == {"ok"} and r.runs["run_id"].nunique() == 4
    with pytest.raises(kral_nb.ConfigError, match="region:nowhere"):
        kral_nb.load("hi", ["sim:fast"], concurrency=[1], requests=1, progress=False,
                     cluster=kral_nb.RayCluster(regions=("nowhere",)))


def test_an_actor_killed_mid_level_leaves_error_rows_and_keeps_the_rest(cluster: Cluster, sim_root: str) -> None:
    import httpx

    model = "steady+n=10+itl=0.05+seed=ray4"  # 0.6 s streams
    killed: list[str] = []

    def kill_shard_1() -> None:  # once both actors have finished a few streams
        deadline = time.monotonic() + 60
        while sum(e["model"] == model for e in httpx.get(sim_root + "/_sim/log").json()) < 14:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        for name in ray.util.list_named_actors():
            if name.startswith("kral_nb_shard1_"):
                ray.kill(ray.get_actor(name))
                killed.append(name)
                return

    killer = threading.Thread(target=kill_shard_1, daemon=True)
    killer.start()
    lr = kral_nb.load("hi", ["sim:" + model], concurrency=[4, 2], duration_s=6, shards=2,
                      progress=False, cluster="ray")
    killer.join()
    assert killed
    runs = lr.runs
    first, second = runs[runs["level"] == 4], runs[runs["level"] == 2]
    lost = first[first["status"] == "error"]
    assert 1 <= len(lost) <= 4 and set(lost["shard"]) == {1}
    assert lost["error"].str.contains("Ray actor for load shard 1 died on host").all()
    assert ((first["shard"] == 0) & (first["status"] == "ok")).sum() >= 10  # the other actor's work, whole
    assert ((first["shard"] == 1) & (first["status"] == "ok")).sum() >= 2  # what it reported before
    assert set(second["status"].astype(str)) == {"ok"} and set(second["shard"]) == {0, 1}  # a fresh actor
    ok = runs[runs["status"] == "ok"]
    assert (ok["n_content_chunks"] == 10).all() and len(lr.chunks) == runs["n_chunks"].sum()


def test_an_interrupt_cancels_every_actor_and_keeps_partial_data(cluster: Cluster, sim_root: str) -> None:
    import httpx

    def interrupt_once_streaming() -> None:
        deadline = time.monotonic() + 60
        while sum(e["model"] == "steady+n=2000+seed=ray5" for e in httpx.get(sim_root + "/_sim/log").json()) < 2:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        time.sleep(1.0)
        _thread.interrupt_main()

    timer = threading.Thread(target=interrupt_once_streaming, daemon=True)
    timer.start()
    try:
        with pytest.raises(kral_nb.Cancelled) as info:
            kral_nb.load("hi", ["sim:steady+n=2000+seed=ray5"], concurrency=[2], duration_s=120, shards=2,
                         progress=False, cluster="ray")
    finally:
        timer.join()
    r = info.value.result
    assert len(r) == 2 and set(r.runs["status"].astype(str)) == {"cancelled"}
    assert (r.runs["output_tokens"] > 10).all() and len(r.chunks) == r.runs["n_chunks"].sum()
    assert not [n for n in ray.util.list_named_actors() if n.startswith("kral_nb_")]  # every actor gone


def test_an_unreachable_cluster_is_one_clear_error_before_anything_starts(cluster: Cluster) -> None:
    code = ("import kral_nb\n"
            "try:\n"
            "    kral_nb.load('hi', ['sim:fast'], concurrency=[1], requests=1, progress=False, cluster='ray')\n"
            "except kral_nb.KralError as e:\n"
            "    print('ERROR', e)\n")
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert "ERROR cannot reach the Ray cluster at 127.0.0.1:9" in out.stdout, out.stdout + out.stderr[-2000:]
