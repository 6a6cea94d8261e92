"""A finished run's directory is a Hugging Face dataset: the real `datasets` package loads it.

The corpus (dedup only: no model) has nested input folders, a shard that loses every row to dedup (no
kept file) and a shard with nothing to quarantine (no quarantine file); no output file is ever empty.
"""

from __future__ import annotations

import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygiene.config import CleanConfig, DetectorSettings
from hygiene.io import columns as C
from hygiene.io.shards import discover
from hygiene.pipeline import RunError, run

datasets = pytest.importorskip("datasets", reason="the `datasets` package is in the dev extra")

_RNG = random.Random(7)
DOCS = [" ".join("".join(_RNG.choices("aeioubcdfghklmnprstvw", k=_RNG.randint(3, 8))) for _ in range(40))
        for _ in range(8)]  # unrelated documents: nothing near-duplicate among them


def _config(**kw) -> CleanConfig:
    return CleanConfig(detector=DetectorSettings(kind="none"), batch_rows=3, **kw)


@pytest.fixture()
def corpus(tmp_path):
    """in/a/b/x.parquet: 8 documents (large_string text, an int column) and a null text (quarantined);
    in/y.parquet: copies of x's documents only, so dedup removes all of its rows."""
    src = tmp_path / "in"
    (src / "a" / "b").mkdir(parents=True)
    x = pa.table({"text": pa.array([*DOCS, None], pa.large_string()), "n": pa.array(range(9), pa.int16())})
    pq.write_table(x, src / "a" / "b" / "x.parquet")
    y = pa.table({"text": pa.array(DOCS[:3], pa.large_string()), "n": pa.array([0, 1, 2], pa.int16())})
    pq.write_table(y, src / "y.parquet")
    return src, tmp_path


def _files(out):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return str(tmp_path / "hf-cache")


def test_finished_run_loads_in_datasets(corpus, hf_cache):
    src, tmp = corpus
    out = tmp / "out"
    result = run([src], out, _config())
    counts = result.manifest["counts"]
    assert counts == {**counts, "rows": 12, "kept": 8, "removed": 3, "quarantined": 1}
    assert _files(out) == ["README.md", "kept/a/b/x.parquet", "manifest.json", "quarantine/a/b/x.parquet",
                           "removed/y.parquet", "report.html"]  # no empty file, no .work/, paths kept
    for name in _files(out):
        if name.endswith(".parquet"):
            assert pq.ParquetFile(out / name).metadata.num_rows > 0
    kept = pq.read_table(out / "kept" / "a" / "b" / "x.parquet")
    assert kept.schema == pq.read_schema(src / "a" / "b" / "x.parquet")  # same columns, same types
    assert kept.column("text").to_pylist() == DOCS

    card = (out / "README.md").read_text()
    assert card.startswith("---\nconfigs:\n") and "config_name: kept" in card and "config_name: scored" not in card
    assert result.manifest["outputs"] == {"kept": "kept/**/*.parquet", "removed": "removed/**/*.parquet",
                                          "quarantine": "quarantine/**/*.parquet"}
    for config, rows in (("kept", 8), ("removed", 3), ("quarantine", 1)):
        loaded = datasets.load_dataset(str(out), config, split="train", cache_dir=hf_cache)
        assert loaded.num_rows == rows
    assert datasets.load_dataset(str(out), split="train", cache_dir=hf_cache)["text"] == DOCS  # default: kept
    removed = datasets.load_dataset(str(out), "removed", split="train", cache_dir=hf_cache)
    assert set(removed[C.REASON]) == {C.EXACT_DUPLICATE} and set(removed["id"]) == {"y:0", "y:1", "y:2"}
    for name in _files(out):
        if name.endswith(".parquet"):
            one = datasets.load_dataset("parquet", data_files=str(out / name), split="train", cache_dir=hf_cache)
            assert one.num_rows == pq.ParquetFile(out / name).metadata.num_rows

    # The finished run stays marked without .work/: refused, never searched as input, replaced on request.
    with pytest.raises(RunError, match="already holds a finished run"):
        run([src], out, _config())
    assert [s.name for s in discover([tmp])] == ["in/a/b/x", "in/y"]
    again = run([src], out, _config(), overwrite=True)
    assert again.manifest["counts"] == counts and _files(out) == _files(tmp / "out")


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst"])
def test_json_lines_outputs_load_in_datasets(corpus, hf_cache, fmt):
    src, tmp = corpus
    out = tmp / "out"
    run([src], out, _config(output_format=fmt, add_id=True, keep_work=True))
    assert f"kept/a/b/x.{fmt}" in _files(out) and f"kept/y.{fmt}" not in _files(out)
    assert (out / ".work" / "run.json").is_file()  # kept on request
    kept = datasets.load_dataset(str(out), "kept", split="train", cache_dir=hf_cache)
    assert kept["text"] == DOCS and kept["id"] == [f"a/b/x:{i}" for i in range(8)]  # --add-id
    quarantine = datasets.load_dataset(str(out), "quarantine", split="train", cache_dir=hf_cache)
    assert quarantine[C.Q_ROW] == [8] and quarantine[C.Q_ERROR] == ["text is null"]
    assert json.loads(__import__("base64").b64decode(quarantine[C.Q_RAW][0])) == {"text": None, "n": 8}


def test_resumed_run_writes_no_empty_file_and_keeps_every_row(corpus, monkeypatch):
    """A crash while routing the second shard; the rerun resumes and the outputs are the uninterrupted ones."""
    import hygiene.pipeline.engine as engine

    src, tmp = corpus
    reference = run([src], tmp / "ref", _config())
    real, calls = engine.route_shard, []

    def crash_on_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(engine, "route_shard", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        run([src], tmp / "out", _config())
    assert (tmp / "out" / ".work").is_dir() and not (tmp / "out" / "manifest.json").exists()
    monkeypatch.setattr(engine, "route_shard", real)
    resumed = run([src], tmp / "out", _config())
    assert resumed.resumed and resumed.manifest["counts"] == reference.manifest["counts"]
    assert _files(tmp / "out") == _files(tmp / "ref")
    for name in _files(tmp / "ref"):
        if name.endswith(".parquet"):
            assert pq.read_table(tmp / "out" / name).equals(pq.read_table(tmp / "ref" / name))
    assert os.listdir(tmp / "out" / "kept") == ["a"]
