"""Publishing per-model SQL to gs://: one concurrent batch vs one blocking upload per file (the Cosmos pattern).

Everything runs against fake-gcs-server behind a loopback relay that holds every request 50 ms, to model real GCS
round trips. The relay copies bytes without parsing HTTP (``cosmos_remote.testing._relay``): an HTTP-parsing proxy
spends ~2 ms of CPU per request, which on a 2-core machine was most of what a large publish measured, and which real
GCS does not cost the client. For each size a fresh bucket is used: the emulator's in-memory backend costs more per
insert as a bucket fills up (real GCS does not), and a fresh bucket keeps sizes comparable.

Baselines, measured in the same run on a 129-file sample and extrapolated per file for larger sizes:

* ``cosmos``: what astronomer-cosmos 1.x does for ``remote_target_path`` (``_upload_sql_files``): for each file,
  ``ObjectStoragePath(dest, conn_id).parent.mkdir(parents=True, exist_ok=True)`` then
  ``ObjectStoragePath(local_file).copy(dest)``, each call waiting for its requests.
* ``loop``: the cheapest sequential loop possible, one ``fs.pipe_file`` (one request) per file. No sequential
  approach can beat it; against it, a batch's fixed cost (check, batch, commit: 3 round trips) bounds the ratio.

At 5,000 files the emulator itself is the bottleneck: its in-memory backend scans the whole bucket on every insert
under one lock, so the cost grows with the square of the file count, and the create-only precondition our publish
uses (free on real GCS) costs it one more scan per file. The ``reference`` line (fsspec's own ``fs.pipe`` of the same
files, no index, no precondition) shows that floor. Each scenario gets a fresh emulator.

Run: ``python -m benchmarks artifacts`` (or ``python -m benchmarks.artifacts``). Writes
``benchmarks/results/artifacts.json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from benchmarks._common import machine_info, write_results
from cosmos_remote.artifacts import ArtifactRef, FsspecArtifactStore, NodeArtifact, RunScope

REQUEST_DELAY: Final = 0.05
SIZES: Final = (129, 1_000, 5_000)
BASELINE_SAMPLE: Final = 129
CONCURRENCY_SWEEP: Final = (25, 50, 100, 200)
TARGETS: Final = {129: 1.0, 5_000: 15.0}
RESULTS: Final = Path(__file__).parent / "results" / "artifacts.json"
_WORDS: Final = ("select", "from", "where", "join", "left", "on", "and", "group by", "sum", "count", "coalesce", "case")


def _sql(rng: random.Random, index: int) -> str:
    size = rng.randint(2_048, 8_192)
    body = " ".join(
        rng.choice(_WORDS) + (f" col_{rng.randint(0, 999)}" if rng.random() < 0.3 else "") for _ in range(size // 6)
    )
    return (f"-- model_{index}\ncreate or replace table `p`.`d`.`model_{index}` as (\n{body}\n)")[:size]


def make_nodes(count: int, *, seed: int = 7) -> list[NodeArtifact]:
    """``count`` models of 2-8 KB of SQL each, spread over a few folders like a real project."""
    rng = random.Random(seed)
    folders = ("staging", "intermediate", "marts/finance", "marts/core")
    return [
        NodeArtifact(
            unique_id=f"model.bench.model_{i}",
            files={"script": _sql(rng, i)},
            resource_path=f"models/{folders[i % len(folders)]}/model_{i}.sql",
            materialization="table",
        )
        for i in range(count)
    ]


def _cpu_seconds(pids: tuple[int, ...]) -> float | None:
    """CPU time used so far by the emulator processes (Linux /proc), to show where the time goes."""
    try:
        total = 0.0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError):
        return None


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _store(gcp: Any, bucket: str, **kwargs: Any) -> FsspecArtifactStore:
    options = {"token": "anon", "project": gcp.project, "endpoint_url": gcp.gcs_endpoint}
    return FsspecArtifactStore(root=f"gs://{bucket}/cosmos", storage_options=options, **kwargs)


def _publish(store: FsspecArtifactStore, nodes: list[NodeArtifact]) -> ArtifactRef:
    scope = RunScope(dag_id="bench", run_id=f"manual__{uuid.uuid4().hex}")
    return store.publish(scope=scope, nodes=nodes, project_name="bench", dbt_version="1.11")


def baseline_cosmos(gcp: Any, nodes: list[NodeArtifact], bucket: str) -> float:
    """Seconds for Cosmos's loop: per file, mkdir the parent, then ObjectStoragePath.copy (local -> gs)."""
    from airflow.sdk import ObjectStoragePath

    with tempfile.TemporaryDirectory() as tmp:
        local = []
        for node in nodes:
            path = Path(tmp, node.resource_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(node.encoded()["script"])
            local.append((path, node.resource_path))

        def loop() -> None:
            for path, relative in local:
                dest = ObjectStoragePath(f"gs://{bucket}/cosmos/bench/run/run/bench/{relative}", conn_id=gcp.conn_id)
                dest.parent.mkdir(parents=True, exist_ok=True)
                ObjectStoragePath(str(path)).copy(dest)

        return _timed(loop)


def baseline_loop(gcp: Any, nodes: list[NodeArtifact], bucket: str) -> float:
    """Seconds for the cheapest sequential loop: one pipe_file (one request) per file, each waiting."""
    import fsspec

    fs = fsspec.filesystem(
        "gs", token="anon", project=gcp.project, endpoint_url=gcp.gcs_endpoint, skip_instance_cache=True
    )
    payload = [(f"{bucket}/loop/{n.resource_path}", n.encoded()["script"]) for n in nodes]
    return _timed(lambda: [fs.pipe_file(path, data) for path, data in payload])


def fetch_latency(gcp: Any, bucket: str, ref: ArtifactRef, unique_id: str, repeat: int = 15) -> dict[str, float]:
    """Median seconds to fetch one node: new store (filesystem + index + file), index not cached, index cached."""
    new_store, cold, warm = [], [], []
    for _ in range(repeat):
        new_store.append(_timed(lambda: _store(gcp, bucket).fetch(ref=ref, unique_id=unique_id)))
    store = _store(gcp, bucket)
    store.fetch(ref=ref, unique_id=unique_id)
    for _ in range(repeat):
        store.index_cache.clear()
        cold.append(_timed(lambda: store.fetch(ref=ref, unique_id=unique_id)))
        warm.append(_timed(lambda: store.fetch(ref=ref, unique_id=unique_id)))
    return {
        "new_store_s": statistics.median(new_store),
        "index_not_cached_s": statistics.median(cold),
        "index_cached_s": statistics.median(warm),
    }


def _timed_publish(store: FsspecArtifactStore, nodes: list[NodeArtifact]) -> tuple[float, ArtifactRef]:
    started = time.perf_counter()
    ref = _publish(store, nodes)
    return time.perf_counter() - started, ref


def measure_size(gcp: Any, nodes: list[NodeArtifact], baselines: dict[str, float]) -> dict[str, Any]:
    """Publish ``nodes`` into a fresh bucket; compare with the per-file baselines; time fetches."""
    size = len(nodes)
    bucket = f"bench-{size}"
    gcp.create_bucket(bucket)
    store = _store(gcp, bucket)
    cpu_before = _cpu_seconds(gcp.pids)
    wall, ref = _timed_publish(store, nodes)
    cpu_after = _cpu_seconds(gcp.pids)
    measured = size == BASELINE_SAMPLE
    per_file = {name: total / BASELINE_SAMPLE for name, total in baselines.items()}
    return {
        "files": size,
        "bytes": sum(len(n.encoded()["script"]) for n in nodes),
        "publish_s": wall,
        "baseline_cosmos_s": per_file["cosmos"] * size,
        "baseline_loop_s": per_file["loop"] * size,
        "baseline_measured": measured,
        "ratio_vs_cosmos": per_file["cosmos"] * size / wall,
        "ratio_vs_loop": per_file["loop"] * size / wall,
        "target_s": TARGETS.get(size),
        "index_bytes": len(store.read_index(ref=ref).to_json()),
        "emulator_cpu_s": None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
        "fetch": fetch_latency(gcp, bucket, ref, nodes[size // 2].unique_id),
    }


def measure_fsspec_pipe(gcp: Any, nodes: list[NodeArtifact]) -> float:
    """fsspec's own batch (``fs.pipe(dict)``, 100 in flight) of the same files: no index, no retries, no checks."""
    gcp.create_bucket("bench-fsspec-pipe")
    fs = _store(gcp, "bench-fsspec-pipe").fs
    payload = {f"bench-fsspec-pipe/raw/{n.resource_path}": n.encoded()["script"] for n in nodes}
    started = time.perf_counter()
    fs.pipe(payload, batch_size=100)
    return time.perf_counter() - started


@contextlib.contextmanager
def fresh_emulator() -> Iterator[Any]:
    """A new fake-gcs-server behind the 50 ms relay, with a warmed-up client: no state carried between scenarios."""
    from cosmos_remote.testing import local_gcp

    with local_gcp(gcs_request_delay=REQUEST_DELAY) as gcp:
        gcp.create_bucket("bench-warmup")
        _publish(_store(gcp, "bench-warmup"), make_nodes(20, seed=1))  # imports, connection pool
        yield gcp


def run() -> dict[str, Any]:
    """Measure every scenario, each on a fresh emulator; return the results document."""
    load_before = os.getloadavg()[0]
    sample = make_nodes(BASELINE_SAMPLE)
    with fresh_emulator() as gcp:
        for name in ("bench-baseline-cosmos", "bench-baseline-loop"):
            gcp.create_bucket(name)
        baselines = {
            "cosmos": baseline_cosmos(gcp, sample, "bench-baseline-cosmos"),
            "loop": baseline_loop(gcp, sample, "bench-baseline-loop"),
        }
    rows = []
    for size in SIZES:
        with fresh_emulator() as gcp:
            rows.append(measure_size(gcp, sample if size == BASELINE_SAMPLE else make_nodes(size), baselines))
    with fresh_emulator() as gcp:
        fsspec_pipe = measure_fsspec_pipe(gcp, make_nodes(SIZES[-1]))
    sweep = []
    for concurrency in CONCURRENCY_SWEEP:
        with fresh_emulator() as gcp:
            gcp.create_bucket("bench-sweep")
            wall, _ = _timed_publish(_store(gcp, "bench-sweep", max_concurrency=concurrency), make_nodes(1_000))
            sweep.append({"files": 1_000, "max_concurrency": concurrency, "publish_s": wall})
    return {
        "benchmark": "artifacts.publish",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(load_before=load_before),
        "setup": {
            "backend": "fake-gcs-server (in-memory) behind a loopback delay relay, a fresh one per scenario",
            "request_delay_s": REQUEST_DELAY,
            "file_bytes": "2048-8192",
            "max_concurrency": 100,
            "baseline_sample_files": BASELINE_SAMPLE,
            "baseline_sample_s": baselines,
            "baseline_note": "sizes above the sample are extrapolated: per-file time x files",
        },
        "rows": rows,
        "reference_fsspec_pipe": {"files": SIZES[-1], "publish_s": fsspec_pipe, "note": "fs.pipe(dict), no index"},
        "concurrency_sweep": sweep,
    }


def print_table(result: dict[str, Any]) -> None:
    """The human-readable table."""
    load = result["machine"]["load_average_1m"]
    print(f"publish to gs:// (fake-gcs-server + {REQUEST_DELAY * 1000:.0f} ms per request), 2-8 KB per file")
    print(f"{result['machine']['cpus']} CPUs, load average {load['start']:.1f} -> {load['end']:.1f}")
    header = (
        f"{'files':>6} {'batch s':>8} {'cosmos s':>10} {'x faster':>9} {'loop s':>8} {'x faster':>9} "
        f"{'target':>8} {'met':>4} {'emulator cpu s':>15}"
    )
    print(header)
    print("-" * len(header))
    for row in result["rows"]:
        mark = "" if row["baseline_measured"] else "*"
        target = row["target_s"]
        met = "-" if target is None else ("yes" if row["publish_s"] <= target else "NO")
        print(
            f"{row['files']:>6} {row['publish_s']:>8.2f} {row['baseline_cosmos_s']:>9.1f}{mark:1} "
            f"{row['ratio_vs_cosmos']:>8.0f}x {row['baseline_loop_s']:>7.1f}{mark:1} {row['ratio_vs_loop']:>8.0f}x "
            f"{'<= ' + str(target) + ' s' if target else '':>8} {met:>4} {row['emulator_cpu_s'] or 0:>15.1f}"
        )
    print(f"* extrapolated from the {BASELINE_SAMPLE}-file sample measured in this run (per-file time x files)")
    print("cosmos = ObjectStoragePath mkdir + copy per file (astronomer-cosmos); loop = one pipe_file per file")
    print("emulator cpu = CPU seconds fake-gcs-server and the delay relay spent during the publish (2-core box)")
    ref = result["reference_fsspec_pipe"]
    print(f"reference: fsspec's own fs.pipe(dict) of the same {ref['files']} files, no index: {ref['publish_s']:.2f} s")
    print("\nfetch one node (median):  new store | index not cached | index cached   (index size)")
    for row in result["rows"]:
        ms = {key: value * 1000 for key, value in row["fetch"].items()}
        print(
            f"{row['files']:>6} nodes: {ms['new_store_s']:>12.0f} ms | {ms['index_not_cached_s']:>13.0f} ms | "
            f"{ms['index_cached_s']:>10.0f} ms   ({row['index_bytes'] / 1024:.0f} KiB)"
        )
    sweep = ", ".join(f"{s['max_concurrency']}: {s['publish_s']:.2f} s" for s in result["concurrency_sweep"])
    print(f"\nmax_concurrency sweep, 1,000 files: {sweep}")


def main() -> None:
    """Run the benchmark, print the table, write benchmarks/results/artifacts.json."""
    logging.getLogger("cosmos_remote.artifacts").setLevel(logging.WARNING)
    result = run()
    print_table(result)
    write_results(RESULTS, result)


if __name__ == "__main__":
    main()
