"""Each pipeline step on its own, with a fake detector (no LM): what it adds, what it counts, how filters chain,
and a whole `clean` run built from the steps, with and without a detector."""

from __future__ import annotations

import json
import pickle
import random
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors.dedup import DedupConfig, exact_key
from detectors.minhash import MinHashConfig, sign
from hygiene.config import CleanConfig, DetectorSettings
from hygiene.io import columns as C
from hygiene.pipeline import run
from hygiene.pipeline.decide import decide, decision_steps
from hygiene.pipeline.dedup import CLUSTER, DUPLICATE_OF, SIMILARITY, ExactDedup, NearDedup, decision_table
from hygiene.pipeline.step import REASON, StepStats, merge_stats, run_steps
from hygiene.pipeline.steps import (
    KEY,
    MACHINE,
    N_TOKENS,
    SCORE,
    SIGNATURE,
    UNSCORED,
    DetectorStep,
    ExactKeyStep,
    MachineFilter,
    MinHashStep,
    documents,
)
from hygiene.pipeline.stream import signal_batches

_VOCAB = ["".join(random.Random(i).choices("aeioubcdfghklmnprstvw", k=3 + i % 6)) for i in range(800)]


class FakeDetector:
    """Statistics from the text alone: `likelihood` = -(distinct words / words); texts of one word cannot be
    scored (NaN and a reason), like a one-token text under a real LM."""

    name = "fake"

    def __init__(self) -> None:
        self.calls = 0

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        self.calls += 1
        words = [t.split() for t in texts]
        value = np.array([-len(set(w)) / len(w) if len(w) > 1 else np.nan for w in words])
        return {"likelihood": value, "log_rank": 2 * value, "entropy": -value, "fast_detectgpt": value,
                "lrr": value, "n_tokens": np.array([len(w) for w in words]), "truncated": np.zeros(len(texts), bool),
                "reason": np.array(["" if len(w) > 1 else "too short: 0 tokens < min_tokens 1" for w in words])}


def _doc(rng: random.Random, n: int = 40) -> str:
    return " ".join(rng.choice(_VOCAB) for _ in range(n))


def _batch(texts: list[str]) -> pa.Table:
    return documents(np.arange(len(texts)), [f"d{i}" for i in range(len(texts))], texts)


def test_detector_step_adds_signals_and_counts_scorable_rows():
    step = DetectorStep(DetectorSettings(), FakeDetector())
    out = step(_batch(["a b a b", "lonely", "c d e f"]))
    assert out.column(SCORE).to_pylist()[0] == pytest.approx(-0.5)
    assert np.isnan(out.column(SCORE).to_pylist()[1])
    for name in ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr"):  # every statistic, lrr too
        assert name in out.column_names
    assert out.column(UNSCORED).to_pylist() == [None, "could not be scored (too short: 0 tokens < min_tokens 1)",
                                                None]
    assert out.column(N_TOKENS).to_pylist() == [4, 1, 4]
    assert (step.stats.rows_in, step.stats.rows_out) == (3, 2) and step.stats.seconds > 0


def test_detector_step_orients_the_deciding_statistic():
    entropy = DetectorStep(DetectorSettings(statistic="entropy"), FakeDetector())
    out = entropy(_batch(["a b a b"]))
    assert out.column(SCORE).to_pylist() == [pytest.approx(-0.5)]  # -(entropy = 0.5): lower entropy = machine


def test_detector_step_loads_lazily_and_ships_without_its_model(monkeypatch):
    built = []
    monkeypatch.setattr("hygiene.pipeline.steps.build_detector", lambda s: built.append(s) or FakeDetector())
    step = DetectorStep(DetectorSettings(max_tokens=64))
    assert built == []  # constructing (and pickling) loads nothing
    copy = pickle.loads(pickle.dumps(step))
    step(_batch(["a b c"]))
    assert len(built) == 1 and step.detector.calls == 1
    copy(_batch(["a b c"]))  # a worker's copy loads its own
    assert len(built) == 2 and copy.settings.max_tokens == 64
    with pytest.raises(ValueError, match="no detector step"):
        DetectorStep(DetectorSettings(kind="none"))


def test_exact_key_and_minhash_steps():
    texts = ["The  Same text", "the same TEXT ", "another one entirely"]
    out = run_steps([ExactKeyStep(), MinHashStep(MinHashConfig())], _batch(texts))
    keys = out.column(KEY).to_pylist()
    assert keys[0] == keys[1] != keys[2] and keys == exact_key(texts).tolist()
    sig = np.array(out.column(SIGNATURE).to_pylist(), dtype=np.uint32)
    assert np.array_equal(sig, sign(texts, MinHashConfig()))


def test_machine_filter_adds_decision_and_reason_first_filter_wins():
    batch = _batch(["x y", "x y z", "p q"]).append_column(SCORE, pa.array([0.9, 0.1, np.nan]))
    batch = batch.append_column(REASON, pa.array([None, None, None], pa.string()))
    out = MachineFilter(0.5)(batch)
    assert out.column(MACHINE).to_pylist() == [True, False, False]  # NaN is never machine
    assert out.column(REASON).to_pylist() == [C.MACHINE_GENERATED, None, None]
    earlier = batch.set_column(batch.schema.get_field_index(REASON), REASON,
                               pa.array([C.EXACT_DUPLICATE, None, None], pa.string()))
    step = MachineFilter(0.05)
    out = step(earlier)
    assert out.column(REASON).to_pylist() == [C.EXACT_DUPLICATE, C.MACHINE_GENERATED, None]
    assert (step.stats.rows_in, step.stats.rows_out) == (2, 1)  # rows still kept before / after
    flag_only = MachineFilter(0.5, remove=False)(batch)
    assert flag_only.column(MACHINE).to_pylist()[0] and flag_only.column(REASON).null_count == 3


def test_global_dedup_collects_batches_then_decides():
    rng = random.Random(1)
    a, b = _doc(rng), _doc(rng)
    near_a = a.split()
    near_a[3] = "zebra"
    texts = [a, b, "  " + a.upper(), " ".join(near_a), _doc(rng)]
    steps = [ExactKeyStep(), MinHashStep(DedupConfig().minhash)]
    exact, near = ExactDedup(), NearDedup(DedupConfig())
    for part in (texts[:2], texts[2:]):  # two batches, as two shards would arrive
        signals = run_steps(steps, _batch(part))
        exact.collect(signals)
        near.collect(signals)
    table = run_steps([exact, near], decision_table(len(texts)))
    assert table.column(REASON).to_pylist() == [None, None, C.EXACT_DUPLICATE, C.NEAR_DUPLICATE, None]
    assert table.column(DUPLICATE_OF).to_pylist() == [-1, -1, 0, 0, -1]
    assert table.column(CLUSTER).to_pylist() == [0, 1, 0, 0, 4]  # the exact copy joins its original's cluster
    similarity = table.column(SIMILARITY).to_pylist()
    assert similarity[2] == 1.0 and 0.7 < similarity[3] < 1.0 and np.isnan(similarity[1])
    assert (exact.stats.rows_in, exact.stats.rows_out, near.stats.rows_in, near.stats.rows_out) == (5, 4, 4, 3)
    with pytest.raises(ValueError, match="collected 5 keys for 4 rows"):
        exact(decision_table(4))


def test_decide_keeps_the_first_human_looking_member_of_a_cluster():
    rng = random.Random(2)
    original = _doc(rng)
    copy = original.split()
    copy[0] = "zebra"
    texts = [original, " ".join(copy), _doc(rng)]
    config = DedupConfig()
    keys, sigs = exact_key(texts), sign(texts, config.minhash)
    scores = np.array([0.9, 0.1, 0.1])  # the original is machine-written, its near-copy is not
    d = decide(keys, sigs, scores, 0.5, remove_machine=True, exact=True, dedup=config)
    assert d.reason.tolist() == [C.MACHINE_GENERATED, None, None]
    assert d.cluster.tolist() == [1, 1, 2] and d.machine.tolist() == [True, False, False]
    kept_machine = decide(keys, sigs, scores, 0.5, remove_machine=False, exact=True, dedup=config)
    assert kept_machine.reason.tolist() == [None, C.NEAR_DUPLICATE, None]
    no_detector = decide(keys, sigs, None, None, remove_machine=True, exact=True, dedup=config)
    assert no_detector.reason.tolist() == [None, C.NEAR_DUPLICATE, None] and not no_detector.machine.any()
    assert [s.name for s in decision_steps(None, remove_machine=True, exact=True, dedup=config)] == [
        "exact_dedup", "near_dedup"]


def test_step_stats_merge_over_shards():
    a = [StepStats("read", 10, 9, 0.5), StepStats("minhash", 9, 9, 1.0)]
    b = [StepStats("read", 5, 5, 0.25), StepStats("minhash", 5, 5, 0.5)]
    assert merge_stats([a, b]) == [StepStats("read", 15, 14, 0.75), StepStats("minhash", 14, 14, 1.5)]
    with pytest.raises(ValueError):
        a[0].merge(b[1])


def test_signal_batches_counts_reading_and_quarantine(tmp_path):
    pq.write_table(pa.table({"text": ["one two", None, "three four five"]}), tmp_path / "a.parquet")
    from hygiene.io.shards import open_shards

    read = StepStats("read")
    items = list(signal_batches(open_shards([tmp_path / "a.parquet"], "text"), CleanConfig(batch_rows=2),
                                [ExactKeyStep()], read=read))
    assert [i.records for i in items] == [2, 1] and [i.signals.num_rows for i in items] == [1, 1]
    assert (read.rows_in, read.rows_out) == (3, 2) and KEY in items[0].signals.column_names


@pytest.fixture()
def corpus(tmp_path):
    rng = random.Random(0)
    docs = [_doc(rng, 30) for _ in range(30)]
    near = docs[4].split()
    near[2] = "zebra"
    a = docs[:15] + [docs[1].upper(), "alone", None]
    b = docs[15:] + [" ".join(near), "x " * 40]  # "x x x ...": one distinct word in 40 -> machine-like
    pq.write_table(pa.table({"text": a}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"text": b}), tmp_path / "b.parquet")
    return [tmp_path / "a.parquet", tmp_path / "b.parquet"], tmp_path


def test_clean_through_the_steps_with_a_fake_detector(corpus):
    inputs, tmp = corpus
    config = CleanConfig(threshold=-0.5, detector=DetectorSettings(max_tokens=64))
    m = run(inputs, tmp / "out", config, scorer=FakeDetector()).manifest
    counts = m["counts"]
    assert counts["rows"] == 35 and counts["kept"] + counts["removed"] + counts["quarantined"] == 35
    assert counts["quarantined"] == 2  # the null text and the one-word text
    assert counts["removed_by_reason"] == {"exact_duplicate": 1, "near_duplicate": 1, "machine_generated": 1}
    steps = {s["step"]: s for s in m["steps"]}
    assert list(steps) == ["read", "detector", "exact_key", "minhash", "exact_dedup", "machine_filter",
                           "near_dedup"]
    assert (steps["read"]["rows_in"], steps["read"]["rows_out"]) == (35, 34)
    assert (steps["detector"]["rows_in"], steps["detector"]["rows_out"]) == (34, 33)
    assert steps["exact_dedup"]["rows_in"] == 33 and steps["near_dedup"]["rows_out"] == counts["kept"] == 30
    removed = pq.read_table(tmp / "out" / "removed" / "b.parquet").to_pylist()
    assert {r[C.REASON] for r in removed} == {"near_duplicate", "machine_generated"}
    assert all(C.statistic_column("lrr") in r for r in removed)
    assert "<h2>Steps</h2>" in (tmp / "out" / "report.html").read_text()


def test_dedup_only_run_loads_no_model_and_matches_clean_with_detector_none(corpus):
    inputs, tmp = corpus
    code = ("import sys; from hygiene_cli.main import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    run_ = subprocess.run([sys.executable, "-c", code, "dedup", *map(str, inputs), "--out", str(tmp / "d"), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert run_.returncode == 0, run_.stderr
    m = json.loads((tmp / "d" / "manifest.json").read_text())
    assert m["config"]["detector"]["kind"] == "none" and m["threshold"] is None
    assert m["counts"]["removed_by_reason"] == {"exact_duplicate": 1, "near_duplicate": 1, "machine_generated": 0}
    assert m["counts"]["quarantined"] == 1  # only the unreadable row: nothing is scored
    assert [s["step"] for s in m["steps"]] == ["read", "exact_key", "minhash", "exact_dedup", "near_dedup"]
    removed = pq.read_table(tmp / "d" / "removed" / "a.parquet")
    assert C.SCORE not in removed.column_names and C.CLUSTER in removed.column_names
    same = run(inputs, tmp / "c", CleanConfig(detector=DetectorSettings(kind="none"))).manifest
    assert same["counts"] == m["counts"]
    for sub in ("kept", "removed"):
        for name in ("a.parquet", "b.parquet"):
            assert pq.read_table(tmp / "d" / sub / name).equals(pq.read_table(tmp / "c" / sub / name))
