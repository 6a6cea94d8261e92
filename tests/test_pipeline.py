"""`clean` / `score` end to end on real shards with the real offline scorer LM."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygiene.config import CleanConfig, DetectorSettings
from hygiene.io import columns as C
from hygiene.io.shards import ShardError
from hygiene.pipeline import RunError, run

MAX_TOKENS = 64


class _Memo:
    """The real scorer, remembering each text's statistics: these tests rerun one corpus many times."""

    def __init__(self, scorer):
        self.scorer, self.name, self.seen = scorer, scorer.name, {}

    def statistics(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if todo:
            stats = self.scorer.statistics(todo)
            for i, t in enumerate(todo):
                self.seen[t] = {k: v[i] for k, v in stats.items()}
        return {k: np.array([self.seen[t][k] for t in texts]) for k in self.seen[texts[0]]}


@pytest.fixture(scope="module")
def scorer():
    from detectors.lm import load_causal_lm
    from detectors.zeroshot import ZeroShotDetector

    return _Memo(ZeroShotDetector(load_causal_lm(None), max_tokens=MAX_TOKENS, batch_size=16))


def _config(**kw) -> CleanConfig:
    # An explicit threshold: these tests are about routing, not about where the threshold sits.
    return CleanConfig(threshold=kw.pop("threshold", -2.0), detector=DetectorSettings(max_tokens=MAX_TOKENS), **kw)


_VOCAB = ["".join(random.Random(i).choices("aeioubcdfghklmnprstvw", k=3 + i % 6)) for i in range(800)]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(_VOCAB) for _ in range(rng.randint(12, 30))).capitalize() + "."


@pytest.fixture()
def corpus(tmp_path):
    """Two shards: distinct docs, an exact copy (respaced), a near copy, and unreadable rows."""
    rng = random.Random(0)
    docs = [" ".join(_sentence(rng) for _ in range(3)) for _ in range(24)]
    near = docs[3].split()
    near[5] = "zebra"
    a = docs[:12] + ["  " + docs[2].upper() + " ", None]
    pq.write_table(pa.table({"text": a, "source": ["a"] * len(a)}), tmp_path / "a.parquet")
    lines = [json.dumps({"text": t, "source": "b"}) for t in docs[12:] + [" ".join(near)]]
    lines.insert(3, '{"text": "broken')
    (tmp_path / "b.jsonl").write_text("\n".join(lines) + "\n")
    return [tmp_path / "a.parquet", tmp_path / "b.jsonl"], tmp_path


def _rows(path):
    return pq.read_table(path).to_pylist() if path.exists() else []


def test_clean_routes_every_row_once(corpus, scorer):
    inputs, tmp = corpus
    result = run(inputs, tmp / "out", _config(), scorer=scorer)
    m = result.manifest
    counts = m["counts"]
    assert counts["rows"] == 14 + 14
    assert counts["kept"] + counts["removed"] + counts["quarantined"] == counts["rows"]
    assert counts["quarantined"] == 2
    assert counts["removed_by_reason"]["exact_duplicate"] == 1
    assert counts["removed_by_reason"]["near_duplicate"] == 1
    removed = _rows(tmp / "out" / "removed" / "a.parquet") + _rows(tmp / "out" / "removed" / "b.parquet")
    by_reason = {r[C.REASON]: r for r in removed}
    assert by_reason["exact_duplicate"][C.DUPLICATE_OF] == "a:2"
    assert by_reason["near_duplicate"][C.DUPLICATE_OF] == "a:3"
    assert 0.7 < by_reason["near_duplicate"][C.SIMILARITY] < 1.0
    for r in removed:  # removed rows carry their scores and every original column
        assert r["source"] in ("a", "b") and np.isfinite(r[C.SCORE]) and r[C.N_TOKENS] > 0
    kept_a = pq.read_table(tmp / "out" / "kept" / "a.parquet")
    assert kept_a.column_names == ["text", "source"]  # original columns only: no created id
    quarantine = _rows(tmp / "out" / "quarantine" / "b.parquet")
    assert [q[C.Q_ROW] for q in quarantine] == [3] and quarantine[0][C.Q_RAW] == b'{"text": "broken'
    for entry in m["inputs"]:
        assert len(entry["sha256"]) == 64
        assert entry["kept"] + entry["removed"] + entry["quarantined"] == entry["rows"]
    assert m["threshold"] == {"value": -2.0, "source": "config", "calibration": {}}
    examples = m["summary"]["removed_examples"]
    copy = examples["exact_duplicate"][0]
    assert copy["id"] == "a:12" and copy["kept_id"] == "a:2" and copy["shard"] == "a"
    assert copy["kept_excerpt"].upper()[:200] in copy["excerpt"]  # the copy, and the document it copies
    near = examples["near_duplicate"][0]
    assert near["kept_id"] == "a:3" and "zebra" in near["excerpt"] and 0.7 < near["similarity"] < 1.0
    assert np.isfinite(near["score"]) and near["chars"] >= len(near["excerpt"].removesuffix(" …")) > 100
    page = result.report.read_text()
    assert page.count("<svg") == 3  # rows by outcome, scores, duplicate clusters
    assert "zebra" in page and "<script" not in page
    assert not any((tmp / "out").rglob("*.tmp-*"))


def test_machine_threshold_and_keep_machine(corpus, scorer):
    inputs, tmp = corpus
    # A threshold below every score flags everything; the near/exact copies keep their own reason.
    strict = run(inputs, tmp / "strict", _config(threshold=-100.0), scorer=scorer).manifest["counts"]
    assert strict["kept"] == 0
    assert strict["removed_by_reason"]["machine_generated"] == 28 - 2 - 1  # all but quarantine and the copy
    lenient = run(inputs, tmp / "keep", _config(threshold=-100.0, remove_machine=False), scorer=scorer)
    assert lenient.manifest["counts"]["removed_by_reason"]["machine_generated"] == 0


def test_score_annotates_and_removes_nothing(corpus, scorer):
    inputs, tmp = corpus
    m = run(inputs, tmp / "scored", _config(), mode="score", scorer=scorer).manifest
    assert m["counts"]["scored"] == 26 and m["counts"]["removed"] == 0
    assert m["counts"]["would_remove_by_reason"]["exact_duplicate"] == 1
    rows = _rows(tmp / "scored" / "scored" / "a.parquet")
    assert len(rows) == 13 and all(C.SCORE in r and C.CLUSTER in r for r in rows)


def test_finished_run_is_refused_then_overwritten(corpus, scorer):
    inputs, tmp = corpus
    run(inputs, tmp / "out", _config(), scorer=scorer)
    with pytest.raises(RunError, match="already holds a finished run"):
        run(inputs, tmp / "out", _config(), scorer=scorer)
    again = run(inputs, tmp / "out", _config(), scorer=scorer, overwrite=True)
    assert again.manifest["counts"]["rows"] == 28


def test_foreign_or_other_job_directories_are_refused(corpus, scorer, tmp_path):
    inputs, tmp = corpus
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    with pytest.raises(RunError, match="holds no corpus-hygiene run"):
        run(inputs, foreign, _config(), scorer=scorer)
    assert (foreign / "mine.txt").read_text() == "keep me"


class _CrashAfter:
    """Delegates to the real scorer, then dies mid-run like a killed process would."""

    def __init__(self, scorer, calls: int):
        self.scorer, self.calls, self.name = scorer, calls, scorer.name

    def statistics(self, texts):
        if self.calls == 0:
            raise KeyboardInterrupt("simulated crash")
        self.calls -= 1
        return self.scorer.statistics(texts)


def test_crashed_run_resumes_to_identical_output(corpus, scorer):
    inputs, tmp = corpus
    reference = run(inputs, tmp / "ref", _config(batch_rows=8), scorer=scorer)
    with pytest.raises(KeyboardInterrupt):
        run(inputs, tmp / "out", _config(batch_rows=8), scorer=_CrashAfter(scorer, calls=2))
    assert not (tmp / "out" / "manifest.json").exists()
    assert not (tmp / "out" / "kept").exists()  # nothing half-written
    with pytest.raises(RunError, match="unfinished run of a different job"):
        run(inputs, tmp / "out", _config(batch_rows=8, threshold=0.0), scorer=scorer)
    resumed = run(inputs, tmp / "out", _config(batch_rows=8), scorer=scorer)
    assert resumed.resumed
    for sub in ("kept", "removed", "quarantine"):
        for name in ("a.parquet", "b.parquet"):
            assert pq.read_table(tmp / "out" / sub / name).equals(pq.read_table(tmp / "ref" / sub / name))
    assert resumed.manifest["counts"] == reference.manifest["counts"]


def test_examples_survive_a_run_resumed_while_routing(corpus, scorer):
    inputs, tmp = corpus
    reference = run(inputs, tmp / "ref", _config(), scorer=scorer)
    out = tmp / "out"
    run(inputs, out, _config(keep_work=True), scorer=scorer)
    # as if the process died after routing shard a: b's outputs, its marker and the manifest are gone
    for path in (out / "manifest.json", out / ".work" / "routed" / "b.json", out / "kept" / "b.parquet",
                 out / "removed" / "b.parquet"):
        path.unlink()
    resumed = run(inputs, out, _config(), scorer=scorer)
    assert resumed.resumed
    examples = resumed.manifest["summary"]["removed_examples"]
    assert examples == reference.manifest["summary"]["removed_examples"]
    assert all(e["excerpt"] for items in examples.values() for e in items)


def test_bad_input_fails_before_writing(tmp_path, scorer):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": ["fine"]}), good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(ShardError, match="not a readable parquet file"):
        run([good, bad], tmp_path / "out", _config(), scorer=scorer)
    with pytest.raises(ShardError, match="no text column"):
        run([good], tmp_path / "out", _config(text_column="body"), scorer=scorer)
    assert not (tmp_path / "out").exists()


def test_huge_document_is_truncated_not_dropped(tmp_path, scorer):
    huge = ("All work and no play makes a very long document. " * 210_000)[:10_000_000]
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": [huge, "A short ordinary sentence about the weather today."]}), path)
    m = run([path], tmp_path / "out", _config(), mode="score", scorer=scorer).manifest
    rows = _rows(tmp_path / "out" / "scored" / "big.parquet")
    assert m["counts"]["scored"] == 2
    assert rows[0][C.TRUNCATED] is True and rows[0][C.N_TOKENS] == MAX_TOKENS
    assert len(rows[0]["text"]) == 10_000_000  # the document itself is untouched
    assert rows[1][C.TRUNCATED] is False
