"""The Ray engine: the same steps as Ray Data stages on a real local Ray cluster (2 CPUs) decide as the local
engine, resume, and keep every row accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygiene.config import CleanConfig
from hygiene.pipeline import run
from hygiene_cli.main import main
from tests.dedup_support import near_duplicate_texts

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'corpus-hygiene[ray]')")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Two parquet shards and a JSON Lines one with an unreadable record, near and exact copies across them."""
    folder = tmp_path_factory.mktemp("ray-corpus")
    texts = near_duplicate_texts(150, seed=5)
    third = len(texts) // 3
    for s in range(2):
        part = texts[s * third:(s + 1) * third]
        pq.write_table(pa.table({"id": [f"p{s}-{i}" for i in range(len(part))], "text": part}),
                       folder / f"part-{s}.parquet")
    lines = [json.dumps({"id": f"j-{i}", "text": t}) for i, t in enumerate(texts[2 * third:])]
    lines.insert(3, "{not json")
    (folder / "part-2.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def outcome(out: Path) -> dict[str, dict]:
    """Per output folder: id -> the row's hygiene columns (kept rows: none), and the quarantined rows."""
    found: dict[str, dict] = {}
    for folder in ("kept", "removed"):
        rows = {}
        for path in sorted((out / folder).glob("*.parquet")):
            t = pq.read_table(path).to_pylist()
            rows.update({r["id"]: {k: v for k, v in r.items() if k.startswith("hygiene_")} for r in t})
        found[folder] = rows
    found["quarantine"] = {p.name: pq.read_table(p).num_rows for p in sorted((out / "quarantine").glob("*"))}
    return found


def test_ray_engine_decides_as_local_engine(cluster, corpus, tmp_path):
    config = CleanConfig.model_validate({"detector": {"kind": "none"}, "batch_rows": 16})
    local = run([corpus], tmp_path / "local", config)
    # on Ray with near dedup on disk: both choices away from the local default, the same decisions
    disk = config.dedup.model_copy(update={"engine": "disk"})
    ray_config = config.model_copy(update={"engine": "ray", "dedup": disk})
    remote = run([corpus], tmp_path / "ray", ray_config)
    assert remote.manifest["near_dedup"]["engine"] == "disk"
    assert outcome(tmp_path / "local") == outcome(tmp_path / "ray")
    assert local.manifest["counts"] == remote.manifest["counts"]
    assert remote.manifest["counts"]["quarantined"] == 1 and remote.manifest["counts"]["removed"] > 0
    steps = {s["step"]: s for s in remote.manifest["steps"]}
    assert steps["minhash"]["rows_in"] == steps["minhash"]["rows_out"] == local.manifest["counts"]["rows"] - 1
    assert steps["minhash"]["seconds"] > 0  # counted in the workers, brought back
    assert remote.manifest["config"]["engine"] == "ray"


def test_the_workers_read_the_shards_and_run_the_dedup_partitions(cluster, corpus, tmp_path, monkeypatch):
    """Pass 1 and 3 read the shards in Ray tasks (the driver never reads a record: its reader fails here), and
    near dedup's candidate and verify stages run as Ray tasks per partition, deciding as the local engine."""
    import hygiene.io.shards
    import hygiene.pipeline.stream
    from hygiene.pipeline.ray_engine import RayEngine

    config = CleanConfig.model_validate({"detector": {"kind": "none"}, "batch_rows": 16,
                                         "dedup": {"engine": "disk"}})
    run([corpus], tmp_path / "local", config)

    def no_reading(*args, **kwargs):
        raise AssertionError("the driver read a shard's records")

    stages = []
    map_tasks = RayEngine.map_tasks

    def spy(self, fn, args):
        stages.append((fn.__name__, len(args)))
        return map_tasks(self, fn, args)

    for module in (hygiene.io.shards, hygiene.pipeline.stream):
        monkeypatch.setattr(module, "read_batches", no_reading)
    monkeypatch.setattr(RayEngine, "map_tasks", spy)
    remote = run([corpus], tmp_path / "ray", config.model_copy(update={"engine": "ray"}))
    assert outcome(tmp_path / "ray") == outcome(tmp_path / "local")
    assert remote.manifest["counts"]["quarantined"] == 1  # the broken JSON line, quarantined by a worker
    assert [name for name, _ in stages] == ["write_candidates", "write_edges"]
    assert all(count > 1 for _, count in stages)  # one task per partition
    assert remote.manifest["near_dedup"]["verified"] > 0


def test_ray_engine_with_a_detector_and_the_cli(cluster, corpus, tmp_path):
    """The detector step as an actor pool (a small offline model), through `hygiene score --engine ray`."""
    common = ["--detector", "zeroshot", "--max-tokens", "32", "--threshold", "-3.0", "--quiet", "--batch-rows", "8"]
    shard = tmp_path / "small.parquet"  # 16 documents in 2 batches, sent to the detector actor
    pq.write_table(pq.read_table(corpus / "part-0.parquet").slice(0, 16), shard)
    assert main(["score", str(shard), "--out", str(tmp_path / "local"), *common]) == 0
    assert main(["score", str(shard), "--out", str(tmp_path / "ray"), "--engine", "ray", *common]) == 0
    a = pq.read_table(tmp_path / "local" / "scored" / "small.parquet").to_pydict()
    b = pq.read_table(tmp_path / "ray" / "scored" / "small.parquet").to_pydict()
    assert a["id"] == b["id"] and a["hygiene_reason"] == b["hygiene_reason"]
    assert a["hygiene_score"] == pytest.approx(b["hygiene_score"], abs=1e-4)


def test_a_run_started_locally_resumes_on_ray(cluster, corpus, tmp_path):
    config = CleanConfig.model_validate({"detector": {"kind": "none"}, "batch_rows": 16})
    run([corpus], tmp_path / "local", config)
    out = tmp_path / "resumed"
    run([corpus], out, config.model_copy(update={"keep_work": True}))  # .work/ kept: the "interruption" below
    (out / "manifest.json").unlink()  # as if interrupted while routing: one shard routed, two not
    for name in ("part-1", "part-2"):
        (out / ".work" / "routed" / f"{name}.json").unlink()
    (out / ".work" / "signals" / "part-2.parquet").unlink()  # and one shard not yet scored
    resumed = run([corpus], out, config.model_copy(update={"engine": "ray"}))
    assert resumed.resumed
    assert outcome(out) == outcome(tmp_path / "local")


def test_text_signals_on_ray_as_locally(cluster):
    """The path `hygiene risk --engine ray` scores its sample by: texts in memory, batches as Ray Data blocks."""
    from hygiene.pipeline.steps import ExactKeyStep
    from hygiene.pipeline.stream import text_signals

    texts = near_duplicate_texts(40, seed=1)
    local, step = text_signals(ExactKeyStep(), texts, 7), ExactKeyStep()
    remote = text_signals(step, texts, 7, engine="ray")
    assert remote.equals(local)
    assert step.stats.rows_in == len(texts) and step.stats.seconds > 0
