"""The reader against hostile shards: each bad record or damaged part is quarantined or recorded, never fatal."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygiene.io import columns as C
from hygiene.io.jsonl import build_table, unify, widened_columns
from hygiene.io.shards import (
    UNREADABLE,
    ShardError,
    count_rows,
    discover,
    read_batches,
    unreadable,
    validate,
)


def _read(path, **kw):
    (shard,) = discover([path])
    validate(shard, "text")
    batches = list(read_batches(shard, **kw))
    good = {int(r): t for b in batches for r, t in zip(b.rows, b.texts)}
    bad = {q.row: q for b in batches for q in b.quarantined}
    assert sorted([*good, *bad]) == list(range(count_rows(shard)))  # every record once, in one place
    return shard, batches, good, bad


def test_lone_surrogate_escape_is_quarantined_paired_one_is_text(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"text": "a \\ud800 b"}\n{"text": "fine", "meta": "x \\udc00"}\n'
                    '{"text": "emoji \\ud83d\\ude00 ok"}\n{"text": "plain"}\n')
    _, batches, good, bad = _read(path)
    assert good == {2: "emoji \U0001f600 ok", 3: "plain"}
    assert "field 'text' holds a lone surrogate escape (\\ud800)" in bad[0].error
    assert "field 'meta'" in bad[1].error and bad[1].raw == b'{"text": "fine", "meta": "x \\udc00"}'


def test_byte_order_mark_is_not_part_of_the_first_record(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "first"}\r\n{"text": "second"}\r\n')
    _, _, good, bad = _read(path)
    assert good == {0: "first", 1: "second"} and not bad


def test_type_changes_widen_the_column_and_no_field_is_lost(tmp_path):
    records = [{"text": f"doc {i}"} for i in range(3)]
    records[1]["late"] = "only in the second record"  # absent from the batch's first record
    records += [{"text": "n", "meta": 1}, {"text": "s", "meta": "s"}, {"text": "d", "meta": {"a": [1]}},
                {"text": "l", "meta": [1, 2]}, {"text": "b", "meta": True}, {"text": "big", "meta": 10**30}]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    for batch_rows in (100, 4, 1):  # the clash inside one batch, across a batch boundary, in every batch
        shard, batches, good, bad = _read(path, batch_rows=batch_rows)
        assert len(good) == len(records) and not bad
        schema = None
        for b in batches:
            if b.texts:
                schema = unify(schema, b.table.schema)
        assert widened_columns(schema) == {"meta": ["array", "boolean", "integer", "object", "string"]}
        table = pa.concat_tables(b.table for b in read_batches(shard, batch_rows=batch_rows, schema=schema))
        assert table.column("meta").to_pylist()[3:] == ["1", "s", '{"a": [1]}', "[1, 2]", "true", str(10**30)]
        assert table.column("late").to_pylist()[:3] == [None, "only in the second record", None]


def test_compatible_types_are_promoted_not_widened():
    a = build_table([{"x": 1, "s": {"a": 1}}]).schema
    b = build_table([{"x": 2.5, "s": {"b": "t"}}]).schema
    merged = unify(a, b)
    assert merged.field("x").type == pa.float64() and widened_columns(merged) == {}
    assert merged.field("s").type == pa.struct([("a", pa.int64()), ("b", pa.string())])


def test_integer_a_double_cannot_hold_widens_rather_than_promotes_to_float(tmp_path):
    path = tmp_path / "t.jsonl"  # found by the fuzz test: the second pass then failed to fit 2**53 + 1 into a double
    path.write_text(json.dumps({"text": "a", "meta": 2**53 + 1}) + "\n" + json.dumps({"text": "b", "meta": 0.5}) + "\n")
    for batch_rows in (100, 1):
        shard, batches, good, bad = _read(path, batch_rows=batch_rows)
        schema = None
        for b in batches:
            schema = unify(schema, b.table.schema)
        assert widened_columns(schema) == {"meta": ["integer", "number"]}
        table = pa.concat_tables(b.table for b in read_batches(shard, batch_rows=batch_rows, schema=schema))
        assert table.column("meta").to_pylist() == [str(2**53 + 1), "0.5"]
    assert unify(build_table([{"x": 2**53}]).schema, build_table([{"x": 0.5}]).schema).field("x").type == pa.float64()


def test_dictionary_encoded_text_column_is_read(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": pa.array(["alpha", "beta", None, "alpha"]).dictionary_encode()}), path)
    _, batches, good, bad = _read(path)
    assert good == {0: "alpha", 1: "beta", 3: "alpha"} and bad[2].error == "text is null"
    assert all(b.table.column("text").type == pa.string() for b in batches)


def test_first_jsonl_record_without_the_text_field_is_only_that_record(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"title": "no text here"}\n{"text": "the document"}\n')
    _, _, good, bad = _read(path)
    assert good == {1: "the document"} and bad[0].error == "missing text column 'text'"


def _corrupt_row_group(path, group: int) -> None:
    """Flip a byte inside the text column's data in `group` (the file was written with page checksums)."""
    chunk = pq.ParquetFile(path).metadata.row_group(group).column(0)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start + chunk.total_compressed_size - 3] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_parquet_page_loses_its_row_group_only(tmp_path):
    path = tmp_path / "c.parquet"
    texts = [f"document {i} about apples and pears" for i in range(40)]
    pq.write_table(pa.table({"text": texts, "n": list(range(40))}), path, row_group_size=10, write_page_checksum=True)
    _corrupt_row_group(path, 2)
    shard, _, good, bad = _read(path, batch_rows=4)
    assert sorted(good) == [*range(20), *range(30, 40)] and all(good[i] == texts[i] for i in good)
    lost = [bad[r] for r in range(20, 30)]
    assert all(q.raw is None and q.error.startswith(UNREADABLE + "row group 2 (rows 20-29)") for q in lost)
    assert len(unreadable(shard)) == 1 and "row group 2" in unreadable(shard)[0]


def test_corrupt_gzip_keeps_what_came_before(tmp_path):
    lines = b"".join(b'{"text": "record %d with some words"}\n' % i for i in range(3000))
    data = bytearray(gzip.compress(lines))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(bytes(data))
    _, _, good, bad = _read(path, batch_rows=500)
    gap = bad[max(bad)]
    assert gap.raw is None and gap.error.startswith(UNREADABLE)
    assert "corrupt in compressed bytes" in gap.error and f"-{len(data)}" in gap.error
    assert len(good) < 3000  # records decoded from damaged bytes before zlib noticed may pass or be quarantined
    assert all(good[r] == f"record {r} with some words" for r in range(1000))  # all before the damage are kept


def test_concatenated_gzip_members_are_one_shard(tmp_path):
    path = tmp_path / "m.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "one"}\n') + gzip.compress(b'{"text": "two"}'))
    _, _, good, bad = _read(path)
    assert good == {0: "one", 1: "two"} and not bad


def test_quarantined_parquet_row_keeps_fields_that_are_not_valid_utf8(tmp_path):
    path = tmp_path / "u.parquet"
    table = pa.table({"text": [None, "ok"], "note": pa.array([b"bad \xff", b"fine"], pa.binary()).view(pa.string())})
    pq.write_table(table, path)
    _, _, good, bad = _read(path)
    assert good == {1: "ok"} and json.loads(bad[0].raw)["note"] is not None


def test_discovery_skips_hidden_folders_and_run_outputs(tmp_path):
    data = tmp_path / "data"
    (data / ".cache").mkdir(parents=True)
    pq.write_table(pa.table({"text": ["x"]}), data / "a.parquet")
    pq.write_table(pa.table({"text": ["x"]}), data / ".cache" / "hidden.parquet")
    pq.write_table(pa.table({"text": ["x"]}), data / ".partial.parquet")
    run = data / "out"  # a run's output directory inside the input directory
    (run / C.WORK_DIR / "signals").mkdir(parents=True)
    (run / C.WORK_DIR / C.RUN_MARKER).write_text("{}")
    (run / C.KEPT_DIR).mkdir()
    pq.write_table(pa.table({"text": ["x"]}), run / C.KEPT_DIR / "a.parquet")
    pq.write_table(pa.table({"text": ["x"]}), run / C.WORK_DIR / "signals" / "a.parquet")
    assert [s.path for s in discover([data])] == [data / "a.parquet"]
    other = data / "new-out"  # an output directory that holds no marker yet is skipped when named
    other.mkdir()
    pq.write_table(pa.table({"text": ["x"]}), other / "b.parquet")
    assert [s.path for s in discover([data], exclude=other)] == [data / "a.parquet"]
    with pytest.raises(ShardError, match="lies inside the output directory"):
        discover([other / "b.parquet"], exclude=other)
    with pytest.raises(ShardError, match="is a corpus-hygiene output directory"):
        discover([run])
    assert [s.path for s in discover([run / C.KEPT_DIR])] == [run / C.KEPT_DIR / "a.parquet"]  # named: read
