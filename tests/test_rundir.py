"""Output-directory ownership and the run's accounting, with a cheap deterministic scorer (no model).

`--overwrite` removes only what the run wrote; a directory is recognised by the run's own marker, not by
a file named manifest.json; resume removes the temporary files a killed process left; discovery never
reads a run's outputs; an empty corpus finishes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_support import REPO, FakeScorer

from hygiene.config import CleanConfig
from hygiene.errors import RunError
from hygiene.io import columns as C
from hygiene.io.shards import ShardError
from hygiene.pipeline import run
from hygiene.pipeline.rundir import FORMAT, read_marker

CONFIG = CleanConfig(threshold=-3.0, batch_rows=4)
KEEP = CleanConfig(threshold=-3.0, batch_rows=4, keep_work=True)  # a finished run a test can "kill" before its end


def _texts(n: int, start: int = 0) -> list[str]:
    return [f"Row {i} of the corpus talks about topic {i * 13 % 17} in {'many ' * (i % 5)}words."
            for i in range(start, start + n)]


@pytest.fixture()
def corpus(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": _texts(10)}), data / "a.parquet")
    pq.write_table(pa.table({"text": _texts(6, 10)}), data / "b.parquet")
    return data


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_manifest_file_does_not_make_a_directory_ours(corpus, tmp_path):
    """Issue 11, item 1: `{}` in manifest.json and --overwrite must not delete the user's kept/NOTES.txt."""
    ds = tmp_path / "ds"
    (ds / "kept").mkdir(parents=True)
    (ds / "manifest.json").write_text("{}")
    (ds / "kept" / "NOTES.txt").write_text("notes")
    before = _files(ds)
    with pytest.raises(RunError, match="holds no corpus-hygiene run"):
        run([corpus], ds, CONFIG, scorer=FakeScorer(), overwrite=True)
    assert _files(ds) == before and (ds / "kept" / "NOTES.txt").read_text() == "notes"


def test_overwrite_never_removes_a_file_the_run_did_not_write(corpus, tmp_path):
    out = tmp_path / "out"
    first = run([corpus], out, CONFIG, scorer=FakeScorer())
    ours = set(_files(out))
    assert read_marker(out)["format"] == FORMAT and read_marker(out)["shards"] == ["a", "b"]
    users = {"NOTES.txt": "top", "kept/NOTES.txt": "kept notes", "removed/mine.parquet": "not ours",
             "quarantine/keep/deep.txt": "deep", "scored.txt": "x", "report.html.bak": "old"}
    for name, text in users.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    (corpus / "b.parquet").unlink()  # the new run has other shards: b's old outputs must go too
    again = run([corpus], out, CONFIG, scorer=FakeScorer(), overwrite=True)
    assert again.manifest["counts"]["rows"] == 10 and first.manifest["counts"]["rows"] == 16
    for name, text in users.items():
        assert (out / name).read_text() == text, name
    left = set(_files(out)) - set(users)
    assert not any(name.startswith(("kept/b", "removed/b", "quarantine/b")) for name in left), left
    assert left <= ours and {"kept/a.parquet", "manifest.json", "report.html"} <= left
    assert read_marker(out)["shards"] == ["a"]


def test_unfinished_run_of_another_job_is_refused_unless_it_wrote_nothing(corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / C.WORK_DIR).mkdir()
    (out / C.WORK_DIR / C.RUN_MARKER).write_text(json.dumps({"format": FORMAT, "fingerprint": "x", "shards": []}))
    done = run([corpus], out, KEEP, scorer=FakeScorer())  # nothing written yet: started afresh
    assert not done.resumed and done.manifest["counts"]["rows"] == 16
    (out / C.MANIFEST).unlink()  # now an unfinished run with outputs
    with pytest.raises(RunError, match="unfinished run of a different job") as refused:
        run([corpus], out, CleanConfig(threshold=-2.0), scorer=FakeScorer())
    assert refused.value.setting == "overwrite" and "--" not in str(refused.value)


def test_resume_removes_stale_temporary_files_only(corpus, tmp_path):
    out = tmp_path / "out"
    run([corpus], out, KEEP, scorer=FakeScorer())
    (out / C.MANIFEST).unlink()  # as if killed before the end
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [out / C.KEPT_DIR / f".a.parquet.tmp-{dead_pid}", out / f".manifest.json.tmp-{dead_pid}",
                 out / C.WORK_DIR / "signals" / f".b.parquet.tmp-{dead_pid}"]
        kept = [out / C.KEPT_DIR / f".a.parquet.tmp-{live.pid}",  # a live writer's file
                out / C.KEPT_DIR / f".mine.parquet.tmp-{dead_pid}"]  # not a name this run writes
        for path in stale + kept:
            path.write_bytes(b"partial")
        result = run([corpus], out, CONFIG, scorer=FakeScorer())
        assert result.resumed
        assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    finally:
        live.kill()
        live.wait()


def test_output_inside_the_input_directory_can_be_rerun(corpus):
    """Issue 11, item 5: discovery must not read the run's own .work/signals or kept/ as inputs."""
    out = corpus / "out"
    first = run([corpus], out, KEEP, scorer=FakeScorer())
    (out / C.MANIFEST).unlink()
    again = run([corpus], out, KEEP, scorer=FakeScorer())  # same inputs, so the same job: it resumes
    assert again.resumed and again.manifest["counts"] == first.manifest["counts"]
    assert [e["name"] for e in again.manifest["inputs"]] == ["a", "b"]
    with pytest.raises(RunError, match="already holds a finished run"):
        run([corpus], out, CONFIG, scorer=FakeScorer())
    with pytest.raises(ShardError, match="lies inside the output directory"):
        run([out / C.KEPT_DIR / "a.parquet"], out, CONFIG, scorer=FakeScorer(), overwrite=True)
    assert (out / C.KEPT_DIR / "a.parquet").exists()


@pytest.mark.parametrize("kind", ["zero-row parquet", "all-null parquet", "blank jsonl", "empty jsonl"])
def test_empty_corpus_finishes_with_zero_rows(tmp_path, kind):
    """Issue 11, item 4: no reshape crash; a finished manifest, and a rerun is a finished run, not a crash."""
    path = tmp_path / ("e.parquet" if "parquet" in kind else "e.jsonl")
    if kind == "zero-row parquet":
        pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    elif kind == "all-null parquet":
        pq.write_table(pa.table({"text": pa.array([None, "", "   "], pa.string())}), path)
    else:
        path.write_text('{"text": null}\n{"text": "  "}\n\n' if kind == "blank jsonl" else "")
    result = run([path], tmp_path / "out", CONFIG, scorer=FakeScorer())
    counts = result.manifest["counts"]
    assert counts["kept"] == counts["removed"] == 0 and counts["quarantined"] == counts["rows"]
    assert result.manifest["summary"]["documents_scored"] == 0 and result.report.exists()
    with pytest.raises(RunError, match="already holds a finished run"):
        run([path], tmp_path / "out", CONFIG, scorer=FakeScorer())


_FULL_DISK = textwrap.dedent("""
    import json, resource, signal, sys
    sys.path[:0] = [sys.argv[3], sys.argv[3] + "/tests"]
    from service_support import FakeScorer
    from hygiene.config import CleanConfig
    from hygiene.pipeline import run
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))
    try:
        run([sys.argv[1]], sys.argv[2], CleanConfig.model_validate(json.loads(sys.argv[4])), scorer=FakeScorer())
    except OSError as exc:
        print(exc)
        sys.exit(3)
""")


def test_a_full_disk_names_the_file_leaves_no_temporary_and_resumes(tmp_path):
    texts = [f"{t} {'filler ' * 40}{i}" for i, t in enumerate(_texts(300))]
    pq.write_table(pa.table({"text": texts}), tmp_path / "big.parquet")
    out = tmp_path / "out"
    config = CleanConfig(threshold=-3.0, batch_rows=64, dedup={"near": False})  # no MinHash: faster here
    failed = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path / "big.parquet"), str(out), str(REPO),
                             config.model_dump_json()], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 3, failed.stderr[-3000:]
    assert "File too large" in failed.stdout and str(out) in failed.stdout  # which file could not be written
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    resumed = run([tmp_path / "big.parquet"], out, config, scorer=FakeScorer())
    assert resumed.resumed and resumed.manifest["counts"]["rows"] == 300


def test_a_run_marked_before_the_format_tag_is_still_ours(corpus, tmp_path):
    out = tmp_path / "out"
    run([corpus], out, KEEP, scorer=FakeScorer())
    (out / C.WORK_DIR / C.RUN_MARKER).write_text(json.dumps({"fingerprint": "old", "started": "then"}))
    (out / C.KEPT_DIR / "NOTES.txt").write_text("mine")
    again = run([corpus], out, CONFIG, scorer=FakeScorer(), overwrite=True)
    assert again.manifest["counts"]["rows"] == 16 and (out / C.KEPT_DIR / "NOTES.txt").read_text() == "mine"
