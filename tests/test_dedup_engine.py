"""`dedup.engine`: near dedup on disk (bounded memory) decides as the in-memory step, through `hygiene clean`."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygiene.pipeline.dedup_disk import DISK_DEDUP_ROWS, _SeenKeys, disk_partitions, use_disk
from hygiene_cli.main import main
from tests.dedup_support import near_duplicate_texts


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Three shards of near-duplicates, exact copies (case changed) and originals, ids d0..dN."""
    folder = tmp_path_factory.mktemp("dedup-engine")
    texts = near_duplicate_texts(300, seed=3)
    third = -(-len(texts) // 3)
    for s in range(3):
        part = texts[s * third:(s + 1) * third]
        ids = [f"d{s * third + i}" for i in range(len(part))]
        pq.write_table(pa.table({"id": ids, "text": part}), folder / f"part-{s}.parquet")
    return folder


def removed(out: Path) -> dict[str, tuple]:
    """id -> (reason, duplicate_of, cluster, similarity rounded) of every removed row."""
    rows = {}
    for path in sorted((out / "removed").glob("*.parquet")):
        t = pq.read_table(path).to_pydict()
        for i, r, d, c, s in zip(t["id"], t["hygiene_reason"], t["hygiene_duplicate_of"], t["hygiene_cluster"],
                                 t["hygiene_similarity"]):
            rows[i] = (r, d, c, round(s, 5))
    return rows


def clean(shards: Path, out: Path, *flags: str) -> dict:
    assert main(["clean", str(shards), "--out", str(out), "--detector", "none", "--quiet", *flags]) == 0
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.parametrize("exact", [True, False])
def test_disk_engine_decides_as_memory(shards, tmp_path, exact):
    flags = [] if exact else ["--no-exact-dedup"]
    memory = clean(shards, tmp_path / "memory", "--dedup-engine", "memory", *flags)
    disk = clean(shards, tmp_path / "disk", "--dedup-engine", "disk", *flags)
    assert memory["near_dedup"]["engine"] == "memory" and disk["near_dedup"]["engine"] == "disk"
    assert disk["near_dedup"]["refused_unions"] == 0  # the cap did not bind: decisions must be equal
    a, b = removed(tmp_path / "memory"), removed(tmp_path / "disk")
    reasons = {r for r, *_ in a.values()}
    assert "near_duplicate" in reasons and ("exact_duplicate" in reasons) == exact
    assert a == b
    assert memory["counts"] == disk["counts"]
    assert memory["near_dedup"]["verified"] == disk["near_dedup"]["verified"]
    assert not (tmp_path / "disk" / ".work" / "near-dedup").exists()  # its 512 B/doc of signatures are freed


def test_disk_engine_through_dedup_command_and_config(shards, tmp_path):
    config = tmp_path / "job.toml"
    config.write_text('[dedup]\nengine = "disk"\n')
    assert main(["dedup", str(shards), "--out", str(tmp_path / "out"), "--config", str(config), "--quiet"]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["near_dedup"]["engine"] == "disk"
    assert manifest["counts"]["kept"] + manifest["counts"]["removed"] == manifest["counts"]["rows"]


def test_auto_engine_threshold():
    assert not use_disk("auto", DISK_DEDUP_ROWS - 1) and use_disk("auto", DISK_DEDUP_ROWS)
    assert use_disk("disk", 1) and not use_disk("memory", 10**9)
    assert disk_partitions(1000) == 64 and disk_partitions(10**7) == 640 and disk_partitions(10**10) == 4096


def test_seen_keys_marks_later_copies_like_exact_dedup():
    import numpy as np

    from detectors.dedup import exact_duplicates

    rng = np.random.default_rng(0)
    keys = rng.integers(0, 50, 400).astype(np.uint64)
    seen = _SeenKeys()
    streamed = np.concatenate([seen.copies(keys[s:s + 37]) for s in range(0, len(keys), 37)])
    assert np.array_equal(streamed, exact_duplicates(keys) >= 0)
