"""Issue 11 regressions over the command line, with the real offline scorer (`--max-tokens 64 --threshold -1.5`).

One directory of hostile shards is cleaned once, into an output directory *inside* it, with batches of
five records; each numbered item of the issue then has its own test over that run's outputs. `score` runs
over the same shards once. Refusals (item 1, settings) need no model and are run on their own.
"""

from __future__ import annotations

import gzip
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_cli import hygiene

from hygiene.io import columns as C

FAST = ["--max-tokens", "64", "--threshold", "-1.5", "--quiet", "--batch-rows", "5"]
GOOD = [f"Entry {i}: the committee met on day {i} and agreed to revisit item {i * 3} next week." for i in range(12)]


def _jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _hostile(data) -> None:
    data.mkdir()
    pq.write_table(pa.table({"text": GOOD[:4]}), data / "good.parquet")
    lone = '{"text": "a \\ud800 b"}'  # valid JSON, not valid Unicode text
    _jsonl(data / "surrogate.jsonl", [{"text": GOOD[4]}])
    with open(data / "surrogate.jsonl", "a") as f:
        f.write(lone + "\n" + json.dumps({"text": GOOD[5]}) + "\n")
    _jsonl(data / "types.jsonl", [{"text": GOOD[6 + i % 6] + f" ({i})", "meta": 1 if i < 5 else "s",
                                   "extra": {"k": i} if i % 2 else [i]} for i in range(8)])
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), data / "empty.parquet")
    _jsonl(data / "blank.jsonl", [{"text": None}, {"text": "   "}])
    (data / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"text": GOOD[7] + " bom"}).encode() + b"\n")
    _jsonl(data / "first_no_text.jsonl", [{"title": "no text"}, {"text": GOOD[8] + " late"}])
    pq.write_table(pa.table({"text": pa.array([GOOD[9], GOOD[10]]).dictionary_encode()}), data / "dict.parquet")
    damaged = data / "damaged.parquet"
    pq.write_table(pa.table({"text": [f"{g} again" for g in GOOD[:6]]}), damaged, row_group_size=3,
                   write_page_checksum=True)
    chunk = pq.ParquetFile(damaged).metadata.row_group(1).column(0)
    raw = bytearray(damaged.read_bytes())
    raw[(chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size - 3] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    cut = gzip.compress("".join(json.dumps({"text": f"{g} gz"}) + "\n" for g in GOOD).encode())
    (data / "cut.jsonl.gz").write_bytes(cut[: len(cut) * 2 // 3])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    _hostile(root / "data")
    # the output inside the input; .work/ kept so that a test can replay a kill before the end
    cleaned = hygiene("clean", "data", "--out", "data/out", *FAST, "--keep-work", cwd=root)
    scored = hygiene("score", "data", "--out", "scored", *FAST, cwd=root)
    return root, cleaned, scored


def _entry(manifest, name):
    return next(e for e in manifest["inputs"] if e["name"] == name)


def _quarantine(out, name):
    return pq.read_table(out / C.QUARANTINE_DIR / f"{name}.parquet").to_pylist()


def test_runs_finish_without_traceback(hostile):
    root, cleaned, scored = hostile
    for done in (cleaned, scored):
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr and "finished" in done.stdout
    for out in (root / "data" / "out", root / "scored"):
        counts = json.loads((out / C.MANIFEST).read_text())["counts"]
        assert counts["kept"] + counts["removed"] + counts["scored"] + counts["quarantined"] == counts["rows"]


def test_item2_lone_surrogate_is_quarantined(hostile):
    root, _, _ = hostile
    for out in (root / "data" / "out", root / "scored"):
        manifest = json.loads((out / C.MANIFEST).read_text())
        entry = _entry(manifest, "surrogate")
        assert (entry["rows"], entry["quarantined"]) == (3, 1)
        (q,) = _quarantine(out, "surrogate")
        assert q[C.Q_ROW] == 1 and "lone surrogate" in q[C.Q_ERROR] and q[C.Q_RAW] == b'{"text": "a \\ud800 b"}'


def test_item3_type_change_across_a_batch_boundary_widens_and_says_so(hostile):
    root, _, _ = hostile
    out = root / "data" / "out"
    entry = _entry(json.loads((out / C.MANIFEST).read_text()), "types")
    assert entry["quarantined"] == 0 and entry["kept"] + entry["removed"] == 8
    assert entry["widened_columns"] == {"extra": ["array", "object"], "meta": ["integer", "string"]}
    # a part with no rows has no file; kept rows have no id column (the input has none): find rows by text
    rows = [r for folder in (C.KEPT_DIR, C.REMOVED_DIR) if (out / folder / "types.parquet").exists()
            for r in pq.read_table(out / folder / "types.parquet").to_pylist()]
    by_number = {int(r["text"].rsplit("(", 1)[1].rstrip(")")): r for r in rows}
    assert [(by_number[i]["meta"], by_number[i]["extra"]) for i in (0, 1)] == [("1", "[0]"), ("1", '{"k": 1}')]


def test_item4_empty_and_all_blank_shards_finish(hostile):
    root, _, _ = hostile
    manifest = json.loads((root / "data" / "out" / C.MANIFEST).read_text())
    assert (_entry(manifest, "empty")["rows"], _entry(manifest, "empty")["quarantined"]) == (0, 0)
    assert (_entry(manifest, "blank")["rows"], _entry(manifest, "blank")["quarantined"]) == (2, 2)


def test_item5_output_inside_the_input_can_be_rerun(hostile):
    root, _, _ = hostile
    out = root / "data" / "out"
    names = {e["name"] for e in json.loads((out / C.MANIFEST).read_text())["inputs"]}
    assert names == {"good", "surrogate", "types", "empty", "blank", "bom", "first_no_text", "dict", "damaged", "cut"}
    again = hygiene("clean", "data", "--out", "data/out", *FAST, cwd=root)
    assert again.returncode == 1 and "already holds a finished run; use --overwrite" in again.stderr
    manifest = (out / C.MANIFEST).read_bytes()
    (out / C.MANIFEST).unlink()  # as if the run had been killed before its end
    resumed = hygiene("clean", "data", "--out", "data/out", *FAST, "--keep-work", cwd=root)  # same job: resumes
    assert resumed.returncode == 0 and resumed.stdout.startswith("resumed and finished"), resumed.stderr[-2000:]
    assert json.loads((out / C.MANIFEST).read_bytes())["counts"] == json.loads(manifest)["counts"]


def test_damaged_parts_keep_what_is_readable_and_are_recorded(hostile):
    root, _, _ = hostile
    out = root / "data" / "out"
    manifest = json.loads((out / C.MANIFEST).read_text())
    damaged = _entry(manifest, "damaged")
    assert damaged["rows"] == 6 and damaged["kept"] + damaged["removed"] == 3
    assert [(u["first_row"], u["last_row"]) for u in damaged["unreadable"]] == [(3, 5)]
    assert "row group 1" in damaged["unreadable"][0]["error"]
    cut = _entry(manifest, "cut")
    assert cut["kept"] + cut["removed"] >= 4 and len(cut["unreadable"]) == 1
    assert "cut short" in cut["unreadable"][0]["error"]
    gap = [q for q in _quarantine(out, "cut") if q[C.Q_RAW] is None]
    assert len(gap) == 1 and gap[0][C.Q_ROW] == cut["rows"] - 1


def test_bom_first_record_without_text_and_dictionary_column_are_per_record(hostile):
    root, _, _ = hostile
    manifest = json.loads((root / "data" / "out" / C.MANIFEST).read_text())
    assert (_entry(manifest, "bom")["rows"], _entry(manifest, "bom")["quarantined"]) == (1, 0)
    first = _entry(manifest, "first_no_text")
    assert (first["rows"], first["quarantined"]) == (2, 1)
    assert _quarantine(root / "data" / "out", "first_no_text")[0][C.Q_ERROR] == "missing text column 'text'"
    assert (_entry(manifest, "dict")["rows"], _entry(manifest, "dict")["quarantined"]) == (2, 0)


def test_item1_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "ds" / "data").mkdir(parents=True)
    (tmp_path / "ds" / "kept").mkdir()
    pq.write_table(pa.table({"text": GOOD[:3]}), tmp_path / "ds" / "data" / "x.parquet")
    (tmp_path / "ds" / "manifest.json").write_text("{}")
    (tmp_path / "ds" / "kept" / "NOTES.txt").write_text("notes")
    shutil.copy(tmp_path / "ds" / "data" / "x.parquet", tmp_path / "y.parquet")
    for inputs, message in ((["ds/data"], "lies inside the output directory"),  # the issue's command
                            (["y.parquet"], "holds no corpus-hygiene run")):  # the same, input elsewhere
        done = hygiene("clean", *inputs, "--out", "ds", "--overwrite", *FAST, cwd=tmp_path)
        assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
        assert (tmp_path / "ds" / "kept" / "NOTES.txt").read_text() == "notes"
        assert (tmp_path / "ds" / "manifest.json").read_text() == "{}"


def test_item1_overwrite_keeps_the_users_files_in_a_run_directory(hostile, tmp_path):
    root, _, _ = hostile
    out = tmp_path / "scored"
    shutil.copytree(root / "scored", out)
    shutil.rmtree(root / "data" / "out")  # (not an input either way)
    (out / C.SCORED_DIR / "NOTES.txt").write_text("mine")
    (out / "notes.md").write_text("mine too")
    done = hygiene("score", root / "data" / "good.parquet", "--out", out, "--overwrite", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / C.SCORED_DIR / "NOTES.txt").read_text() == "mine" and (out / "notes.md").read_text() == "mine too"
    assert sorted(p.name for p in (out / C.SCORED_DIR).iterdir()) == ["NOTES.txt", "good.parquet"]


def test_item6_settings_that_cannot_run_are_refused_with_their_name(tmp_path):
    pq.write_table(pa.table({"text": GOOD[:3]}), tmp_path / "a.parquet")
    (tmp_path / "huge.toml").write_text("batch_rows = 1e20\n")
    config = hygiene("clean", "a.parquet", "--out", "o", "--config", "huge.toml", *FAST[:4], cwd=tmp_path)
    assert config.returncode == 1 and "batch_rows" in config.stderr and "Traceback" not in config.stderr
    window = hygiene("clean", "a.parquet", "--out", "o", "--max-tokens", "8192", "--threshold", "-1.5", "--quiet",
                     cwd=tmp_path)
    assert window.returncode == 1 and "Traceback" not in window.stderr
    assert "detector.max_tokens = 8192 does not fit" in window.stderr and "--max-tokens" in window.stderr
