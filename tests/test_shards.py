"""Shard discovery, validation and streaming reads, on real parquet / JSONL files."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygiene.io.shards import UNREADABLE, ShardError, count_rows, discover, read_batches, unreadable, validate


def _write_parquet(path, data, **kw):
    pq.write_table(pa.table(data), path, **kw)
    return path


def _all(shard, **kw):
    batches = list(read_batches(shard, **kw))
    rows = [int(r) for b in batches for r in b.rows]
    texts = [t for b in batches for t in b.texts]
    ids = [i for b in batches for i in b.ids]
    quarantined = [q for b in batches for q in b.quarantined]
    return batches, rows, texts, ids, quarantined


def test_discover_errors(tmp_path):
    with pytest.raises(ShardError, match="input not found"):
        discover([tmp_path / "missing.parquet"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(ShardError, match="holds no shards"):
        discover([tmp_path / "empty"])
    with pytest.raises(ShardError, match="unsupported shard format"):
        discover([tmp_path / "empty" / "notes.txt"])
    with pytest.raises(ShardError, match="no input shards"):
        discover([])
    shard = _write_parquet(tmp_path / "a.parquet", {"text": ["x"]})
    with pytest.raises(ShardError, match="given twice"):
        discover([shard, tmp_path / "." / "a.parquet"])


def test_discover_recurses_sorted_and_names_unique(tmp_path):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        _write_parquet(tmp_path / sub / "part.parquet", {"text": ["a"]})
    (tmp_path / "y" / "part.jsonl.gz").write_bytes(gzip.compress(b'{"text": "a"}\n'))
    shards = discover([tmp_path])
    assert [s.path.relative_to(tmp_path).as_posix() for s in shards] == [
        "x/part.parquet", "y/part.jsonl.gz", "y/part.parquet"
    ]
    assert [s.name for s in shards] == ["x/part", "y/part", "y/part-2"]  # paths under the folder searched


def test_truncated_parquet_is_refused_up_front(tmp_path):
    path = _write_parquet(tmp_path / "t.parquet", {"text": ["hello world"] * 100})
    path.write_bytes(path.read_bytes()[:-30])
    (shard,) = discover([path])
    with pytest.raises(ShardError, match="not a readable parquet file"):
        validate(shard, "text")
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"definitely not parquet")
    with pytest.raises(ShardError, match="not a readable parquet file"):
        validate(discover([garbage])[0], "text")


def test_missing_or_non_string_text_column(tmp_path):
    (shard,) = discover([_write_parquet(tmp_path / "a.parquet", {"body": ["x"]})])
    with pytest.raises(ShardError, match="no text column 'text'.*body") as refused:
        validate(shard, "text")
    assert refused.value.setting == "text_column" and "--" not in str(refused.value)  # the CLI names its flag
    validate(shard, "body")
    (shard,) = discover([_write_parquet(tmp_path / "b.parquet", {"text": [1, 2]})])
    with pytest.raises(ShardError, match="has type int64, expected string"):
        validate(shard, "text")
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('not json\n{"body": "x"}\n')
    with pytest.raises(ShardError, match="none of its first 2 records has a text field 'text' \\(fields: body\\)"):
        validate(discover([jsonl])[0], "text")
    jsonl.write_text('{"body": "x"}\n{"text": "y"}\n')  # one record without the field: that record's problem
    validate(discover([jsonl])[0], "text")
    jsonl.write_text("[1]\n")
    with pytest.raises(ShardError, match="no JSON object"):
        validate(discover([jsonl])[0], "text")
    jsonl.write_text("")  # an empty shard is a shard of no records
    validate(discover([jsonl])[0], "text")
    gz = tmp_path / "d.jsonl.gz"
    gz.write_text('{"text": "not compressed"}\n')
    with pytest.raises(ShardError, match="not gzip-compressed"):
        validate(discover([gz])[0], "text")


def test_parquet_rows_quarantined_with_reasons_and_ids_created(tmp_path):
    texts = [b"good one", None, b"", b"   ", b"bad \xff utf8", "caf\u00e9".encode()] * 3
    path = _write_parquet(tmp_path / "p.parquet", {"text": pa.array(texts, pa.binary()), "n": list(range(18))})
    (shard,) = discover([path])
    validate(shard, "text")
    batches, rows, good, ids, quarantined = _all(shard, batch_rows=4)
    assert len(batches) == 5
    assert good == ["good one", "caf\u00e9"] * 3
    assert rows == [0, 5, 6, 11, 12, 17]
    assert ids == [f"p:{r}" for r in rows]
    assert sorted(rows + [q.row for q in quarantined]) == list(range(18))
    errors = {q.row: q.error for q in quarantined}
    assert errors[1] == "text is null" and errors[2] == errors[3] == "text is empty"
    assert errors[4].startswith("text is not valid UTF-8")
    assert json.loads(quarantined[0].raw)["n"] == 1  # the whole row survives in quarantine
    for b in batches:
        assert b.table.column("text").type == pa.string()
        assert b.table.column("id").to_pylist() == b.ids
        assert b.table.num_rows == len(b.texts)


def test_parquet_id_column_kept(tmp_path):
    path = _write_parquet(tmp_path / "p.parquet", {"text": ["a", "b"], "doc": [7, 9]})
    (shard,) = discover([path])
    _, _, _, ids, _ = _all(shard, id_column="doc")
    assert ids == ["7", "9"]


def test_jsonl_bad_lines_go_to_quarantine_rest_processed(tmp_path):
    lines = [
        b'{"text": "first", "id": "a"}',
        b'{"text": "broken',
        b"",  # blank lines are not records
        b'{"text": "bad \xff byte"}',
        b"[1, 2]",
        b'{"body": "no text"}',
        b'{"text": null}',
        b'{"text": 42}',
        b'{"text": ""}',
        b'{"text": "last", "extra": 1}',
    ]
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    (shard,) = discover([path])
    validate(shard, "text")
    assert count_rows(shard) == 9
    _, rows, texts, ids, quarantined = _all(shard, batch_rows=3)
    assert texts == ["first", "last"]
    assert ids == ["a", "s:8"]
    errors = [q.error for q in quarantined]
    assert [q.row for q in quarantined] == [1, 2, 3, 4, 5, 6, 7]
    assert errors[0].startswith("malformed JSON")
    assert errors[1].startswith("not valid UTF-8")
    assert errors[2] == "record is a JSON list, not an object"
    assert errors[3] == "missing text column 'text'"
    assert errors[4:] == ["text is null", "text is a int, not a string", "text is empty"]
    assert quarantined[1].raw == lines[3]  # original bytes kept exactly


def test_jsonl_gzip_and_shared_schema(tmp_path):
    records = [{"text": f"doc {i}", "score": i} for i in range(5)] + [{"text": "doc 5", "score": 0.5}]
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    (shard,) = discover([path])
    batches = list(read_batches(shard, batch_rows=5))
    schema = pa.unify_schemas([b.table.schema for b in batches], promote_options="permissive")
    again = list(read_batches(shard, batch_rows=5, schema=schema))
    assert all(b.table.schema == again[0].table.schema for b in again)
    assert again[1].table.column("score").to_pylist() == [0.5]
    assert [i for b in again for i in b.ids] == [f"s:{i}" for i in range(6)]


def test_truncated_gzip_keeps_what_decompressed_and_records_the_rest(tmp_path):
    data = gzip.compress(b"".join(b'{"text": "row %d"}\n' % i for i in range(2000)))
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    (shard,) = discover([path])
    validate(shard, "text")
    _, rows, texts, _, quarantined = _all(shard, batch_rows=256)
    assert len(rows) > 500 and texts == [f"row {i}" for i in rows] and rows == list(range(len(rows)))
    gap = quarantined[-1]
    assert gap.raw is None and gap.error.startswith(UNREADABLE) and "cut short" in gap.error
    assert gap.row == len(rows) + len(quarantined) - 1  # after every record it could read (a cut line included)
    assert count_rows(shard) == gap.row + 1
    assert unreadable(shard) == [gap.error.removeprefix(UNREADABLE)]
