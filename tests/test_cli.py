"""The `hygiene` command as a user runs it: a real subprocess, exit codes, messages, outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygiene_cli.main import build_parser


def hygiene(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hygiene_cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=300, env={**os.environ, "PYTHONUTF8": "1"},
    )


def test_help_explains_outputs():
    assert "clean" in build_parser().format_help()  # builds without loading any model
    run = hygiene("clean", "--help")
    assert run.returncode == 0
    for word in ("--out", "--threshold", "--text-column", "kept + removed + quarantined", "--overwrite"):
        assert word in run.stdout


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (lambda d: None, ["missing.parquet"], "input not found"),
        (lambda d: (d / "empty").mkdir(), ["empty"], "directory holds no shards"),
        (lambda d: (d / "t.parquet").write_bytes(b"PAR1 truncated"), ["t.parquet"], "not a readable parquet file"),
        (lambda d: pq.write_table(pa.table({"body": ["x"]}), d / "nt.parquet"), ["nt.parquet"], "no text column"),
    ],
)
def test_bad_input_exits_nonzero_with_message(tmp_path, setup, args, message):
    setup(tmp_path)
    run = hygiene("clean", *args, "--out", "out", "--threshold", "0", cwd=tmp_path)
    assert run.returncode == 1
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_bad_flag_value_is_a_usage_error(tmp_path):
    pq.write_table(pa.table({"text": ["x"]}), tmp_path / "a.parquet")
    run = hygiene("clean", "a.parquet", "--out", "o", "--max-tokens", "2", cwd=tmp_path)
    assert run.returncode == 1 and "detector.max_tokens" in run.stderr


def test_clean_then_refuse_then_overwrite(tmp_path):
    texts = [f"Entry {i}: the committee met on day {i} and agreed to revisit item {i * 3} next week." for i in range(6)]
    pq.write_table(pa.table({"text": texts + [texts[0]]}), tmp_path / "a.parquet")
    args = ["clean", "a.parquet", "--out", "out", "--threshold", "0", "--max-tokens", "64", "--quiet"]
    first = hygiene(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "kept" in first.stdout and "report" in first.stdout
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["removed_by_reason"]["exact_duplicate"] == 1
    assert manifest["config"]["detector"]["max_tokens"] == 64
    again = hygiene(*args, cwd=tmp_path)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert hygiene(*args, "--overwrite", cwd=tmp_path).returncode == 0


def test_calibrate_writes_a_usable_calibration(tmp_path):
    human = [f"Minutes of meeting {i}: the board reviewed budget line {i * 7} and deferred it." for i in range(24)]
    machine = ["The the the the the the the the the the the the."] * 4
    pq.write_table(pa.table({"text": human + machine, "label": [0] * 24 + [1] * 4}), tmp_path / "ref.parquet")
    run = hygiene("calibrate", "ref.parquet", "--out", "cal.json", "--max-tokens", "32", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    cal = json.loads((tmp_path / "cal.json").read_text())
    assert cal["n_human"] == 24 and cal["max_tokens"] == 32 and cal["target_fpr"] == 0.05
    assert cal["tpr"] is not None and "threshold" in run.stdout
    few = hygiene("calibrate", "ref.parquet", "--out", "x.json", "--label-column", "nope", "--max-tokens", "32",
                  "--quiet", "--batch-rows", "4", cwd=tmp_path)
    assert few.returncode == 0  # no label column: every row counts as human (28 rows)
    assert json.loads((tmp_path / "x.json").read_text())["n_human"] == 28
    pq.write_table(pa.table({"text": human[:5]}), tmp_path / "small.parquet")
    small = hygiene("calibrate", "small.parquet", "--out", "s.json", "--max-tokens", "32", "--quiet", cwd=tmp_path)
    assert small.returncode == 1 and "needs at least 20" in small.stderr
    assert not (tmp_path / "s.json").exists()


def test_help_imports_no_heavy_package():
    """`hygiene --help` and argument errors must answer at once: building the parser loads no model stack."""
    code = ("import sys, hygiene_cli.main as m; m.build_parser(); "
            "print(sorted(k for k in ('torch', 'transformers', 'fastapi', 'numba', 'pyarrow', 'collapse_eval.runner') "
            "if k in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    bad = hygiene("clean", "x.parquet", "--out", "o", "--no-such-flag")
    assert bad.returncode == 2 and "unrecognized arguments" in bad.stderr
