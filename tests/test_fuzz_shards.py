"""Property test: shards with random damage never crash a run, and every readable record is accounted for.

Each example writes one to three shards (parquet, JSON Lines, gzip JSON Lines) of random records with
random damage (broken lines, fields that change type, lone surrogates, byte-order marks, non-objects,
empty and all-null shards, truncation at a random byte, flipped bytes in gzip streams and parquet pages)
and cleans them with a cheap deterministic scorer. Each run must either refuse with a HygieneError (a
clear message, no traceback) or finish with, per shard: kept + removed + quarantined = rows; every row
index in exactly one output; an unreadable part recorded in quarantine and the manifest; and, where an
independent reading of the bytes is possible (plain JSONL, undamaged parquet), the same records kept or
removed as that reading finds usable. The default run is 40 fixed (derandomized) examples so CI is repeatable;
HYGIENE_FUZZ_EXAMPLES=N runs N fresh random examples to search for new failures.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from service_support import FakeScorer

from hygiene.config import CleanConfig
from hygiene.errors import HygieneError
from hygiene.io import columns as C
from hygiene.io.shards import UNREADABLE
from hygiene.pipeline import run

ID = "fuzz_id"  # never a field of the records: ids are created as SHARD:ROW, which the checks read back
EXAMPLES = int(os.environ.get("HYGIENE_FUZZ_EXAMPLES", "40"))
RANDOM = "HYGIENE_FUZZ_EXAMPLES" in os.environ

words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
texts = st.one_of(words.map(lambda w: f"doc {w}"), st.sampled_from([None, "", "   ", "x"]), words)
metas = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), words,
                  st.lists(st.integers(), max_size=3),
                  st.dictionaries(st.sampled_from("ab"), st.integers(), max_size=2))
records = st.lists(st.fixed_dictionaries({"text": texts, "meta": metas}), max_size=12)
line_damage = st.sampled_from(["none", "none", "broken", "surrogate", "nonobject", "blank", "notext", "bytes"])


@st.composite
def jsonl_bytes(draw) -> bytes:
    lines = []
    for record in draw(records):
        damage = draw(line_damage)
        line = json.dumps(record)
        if damage == "broken":
            line = line[: draw(st.integers(0, len(line)))]
        elif damage == "surrogate":
            line = json.dumps({**record, draw(st.sampled_from(["text", "meta"])): "a \udc80 b"})
        elif damage == "nonobject":
            line = json.dumps([record])
        elif damage == "blank":
            lines.append(" \r")
        elif damage == "notext":
            line = json.dumps({"meta": record["meta"]})
        lines.append(line)
        if damage == "bytes":
            lines.append(draw(st.binary(max_size=20)).replace(b"\n", b"").decode("latin-1"))
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + draw(st.sampled_from([b"", b"\n", b"\r\n"]))
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + data


def _damaged(draw, data: bytes, lo: int) -> bytes:
    kind = draw(st.sampled_from(["none", "truncate", "flip"]))
    if kind == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "flip" and len(data) > lo:
        data = bytearray(data)
        for at in draw(st.lists(st.integers(lo, len(data) - 1), min_size=1, max_size=3)):
            data[at] ^= draw(st.integers(1, 255))
        return bytes(data)
    return data


@st.composite
def shard_files(draw) -> list[tuple[str, bytes]]:
    files = []
    for k in range(draw(st.integers(1, 3))):
        fmt = draw(st.sampled_from(["parquet", "jsonl", "jsonl.gz"]))
        if fmt == "jsonl":
            data = draw(jsonl_bytes())
            if draw(st.booleans()):
                data = data[: draw(st.integers(0, len(data)))]
        elif fmt == "jsonl.gz":
            data = _damaged(draw, gzip.compress(draw(jsonl_bytes())), 10)
        else:
            rows = draw(records)
            table = pa.table({"text": pa.array([r["text"] for r in rows], pa.string()),
                              "meta": pa.array([json.dumps(r["meta"]) for r in rows], pa.string())})
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, row_group_size=draw(st.integers(1, 5)),
                           compression=draw(st.sampled_from(["none", "snappy", "zstd"])),
                           write_page_checksum=draw(st.booleans()))
            data = _damaged(draw, sink.getvalue().to_pybytes(), 4)
        files.append((f"s{k}.{fmt}", data))
    return files


def _usable(record: object) -> str | None:
    """An independent reading of one JSON value: its text when the pipeline must keep or remove it."""
    if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
        return None
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None
    return record["text"]


def _expected_jsonl(data: bytes) -> tuple[int, Counter]:
    usable = Counter()
    lines = [line.rstrip(b"\r") for line in data.removeprefix(b"\xef\xbb\xbf").split(b"\n")]
    lines = [line for line in lines if line.strip()]
    for line in lines:
        try:
            text = _usable(json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError):
            text = None
        if text is not None:
            usable[text] += 1
    return len(lines), usable


def _rows(path: Path, column: str) -> list:
    return pq.read_table(path, columns=[column]).column(column).to_pylist() if path.exists() else []


def _check(out: Path, name: str, data: bytes, entry: dict) -> None:
    kept = _rows(out / C.KEPT_DIR / f"{name}.parquet", ID) + _rows(out / C.REMOVED_DIR / f"{name}.parquet", ID)
    quarantine = out / C.QUARANTINE_DIR / f"{name}.parquet"  # written only when it has rows
    q = pq.read_table(quarantine).to_pylist() if quarantine.exists() else []
    assert entry["kept"] + entry["removed"] + entry["quarantined"] == entry["rows"]
    assert len(kept) == entry["kept"] + entry["removed"] and len(q) == entry["quarantined"]
    rows = sorted([int(i.rsplit(":", 1)[1]) for i in kept] + [r[C.Q_ROW] for r in q])
    assert rows == list(range(entry["rows"]))  # every row in exactly one place
    gaps = [r for r in q if r[C.Q_RAW] is None]
    assert all(r[C.Q_ERROR].startswith(UNREADABLE) for r in gaps)
    assert bool(gaps) == bool(entry["unreadable"])  # the unreadable part is in the manifest too
    assert all(r[C.Q_RAW] for r in q if r not in gaps)  # every other quarantined record keeps its bytes


@settings(max_examples=EXAMPLES, derandomize=not RANDOM, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=shard_files(), batch_rows=st.integers(1, 6))
def test_damaged_shards_never_crash_and_every_record_is_accounted_for(files, batch_rows):
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, out = Path(tmp) / "data", Path(tmp) / "out"
        data_dir.mkdir()
        for name, data in files:
            (data_dir / name).write_bytes(data)
        config = CleanConfig(threshold=-3.0, batch_rows=batch_rows, id_column=ID, add_id=True)  # ids on kept rows
        try:
            result = run([data_dir], out, config, scorer=FakeScorer())
        except HygieneError as exc:  # a refusal must be a clear message and leave nothing behind
            event(f"refused: {str(exc).split(': ', 1)[-1][:40]}")
            assert str(exc).strip()
            assert not out.exists()
            return
        for (name, data), entry in zip(files, result.manifest["inputs"]):
            stem = name.split(".")[0]
            assert entry["name"] == stem
            _check(out, stem, data, entry)
            event("finished") if not entry["unreadable"] else event("finished with an unreadable part")
            if name.endswith(".jsonl"):
                rows, usable = _expected_jsonl(data)
                texts = _rows(out / C.KEPT_DIR / f"{stem}.parquet", "text")
                texts += _rows(out / C.REMOVED_DIR / f"{stem}.parquet", "text")
                # the fake scorer quarantines "x" as unscorable; everything else usable is kept or removed
                assert entry["rows"] == rows and Counter(texts) == usable - Counter({"x": usable["x"]})
