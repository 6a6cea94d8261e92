"""The demo corpus builder and a small end-to-end `hygiene demo` with the real default LM."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from hygiene.demo import LABEL, build_corpus, human_documents, inject_duplicates, run_demo
from hygiene.io.shards import discover, read_batches


def test_human_documents_are_prose_and_deterministic():
    docs = human_documents(50, seed=3)
    assert docs == human_documents(50, seed=3)
    assert len({d["text"] for d in docs}) == 50
    for d in docs:
        assert 60 <= len(d["text"].split()) <= 160 and ">>>" not in d["text"]


def test_copies_come_after_their_originals(tmp_path):
    base = [dict(d, doc_id=f"human-{i}", **{LABEL: "human"}) for i, d in enumerate(human_documents(40))]
    docs = inject_duplicates(base, n_near=6, n_exact=3, seed=1)
    position = {d["doc_id"]: i for i, d in enumerate(docs)}
    copies = [d for d in docs if d[LABEL] != "human"]
    assert sorted(d[LABEL] for d in copies) == ["exact_duplicate"] * 3 + ["near_duplicate"] * 6
    for i, d in enumerate(docs):
        if d[LABEL] != "human":
            assert position[d["copy_of"]] < i
    paths = build_corpus(tmp_path, docs)
    assert [p.name for p in paths] == ["part-0.parquet", "part-1.parquet", "part-2.jsonl.gz"]
    texts = [t for s in discover(paths) for b in read_batches(s) for t in b.texts]
    assert texts == [d["text"] for d in docs]


def test_demo_end_to_end_small(tmp_path):
    evaluation = run_demo(tmp_path, n_human=24, n_machine=6, n_near=4, n_exact=2, max_new_tokens=48, quiet=True)
    assert json.loads((tmp_path / "evaluation.json").read_text()) == evaluation
    manifest = json.loads((tmp_path / "clean" / "manifest.json").read_text())
    assert manifest["counts"]["rows"] == 36
    # The demo calibrates on held-out human documentation, as the README asks users to do.
    assert manifest["threshold"]["source"].endswith("calibration.json")
    assert manifest["threshold"]["calibration"]["n_human"] == 80
    kept = sum(pq.ParquetFile(p).metadata.num_rows for p in (tmp_path / "clean" / "kept").glob("*.parquet"))
    assert kept + manifest["counts"]["removed"] + manifest["counts"]["quarantined"] == 36
    assert evaluation["duplicates"]["actual"] == 6
    assert evaluation["duplicates"]["recall"] >= 0.5  # the full demo's numbers are in benchmarks/RESULTS.md
