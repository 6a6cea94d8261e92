"""One command line: the same flag means the same thing in every subcommand; --version, --json, --quiet;
cheap checks before expensive work."""

from __future__ import annotations

import argparse
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_cli import hygiene

from hygiene.config import CleanConfig, DetectorSettings
from hygiene.pipeline import run
from hygiene_cli.main import build_parser

# flag -> the subcommands that must have it; wherever a flag appears it must have the same choices and default.
SHARED = {
    "--config": ["clean", "score", "dedup", "calibrate", "eval-detector", "train-detector", "risk", "serve",
                 "collapse"],
    "--model": ["clean", "score", "calibrate", "eval-detector", "train-detector", "risk", "serve", "collapse"],
    "--detector": ["clean", "score", "calibrate", "eval-detector", "train-detector", "risk", "serve"],
    "--statistic": ["clean", "score", "calibrate", "eval-detector", "train-detector", "risk", "serve"],
    "--normalize": ["clean", "score", "calibrate", "eval-detector", "train-detector", "risk", "serve"],
    "--max-tokens": ["clean", "score", "calibrate", "eval-detector", "train-detector", "risk", "serve"],
    "--batch-size": ["clean", "score", "calibrate", "eval-detector", "train-detector", "risk", "serve"],
    "--device": ["clean", "score", "calibrate", "eval-detector", "train-detector", "risk", "serve"],
    "--text-column": ["clean", "score", "dedup", "calibrate", "eval-detector", "train-detector", "risk"],
    "--id-column": ["clean", "score", "dedup", "calibrate", "eval-detector", "train-detector", "risk"],
    "--batch-rows": ["clean", "score", "dedup", "calibrate", "eval-detector", "train-detector", "risk"],
    "--label-column": ["calibrate", "eval-detector", "train-detector"],
    "--threshold": ["clean", "score", "eval-detector", "risk", "serve"],
    "--calibration": ["clean", "score", "eval-detector", "risk", "serve"],
    "--overwrite": ["clean", "score", "dedup", "risk", "calibrate", "train-detector"],
    "--quiet": ["clean", "score", "dedup", "calibrate", "eval-detector", "train-detector", "risk", "demo",
                "collapse"],
    "--json": ["clean", "score", "dedup", "calibrate", "eval-detector", "train-detector", "risk"],
    "--output-format": ["clean", "score", "dedup"],
    "--add-id": ["clean", "score", "dedup"],
    "--keep-work": ["clean", "score", "dedup"],
}


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def _describe(action: argparse.Action) -> tuple:
    return (type(action).__name__, tuple(action.choices) if action.choices else None, action.default,
            getattr(action.type, "__name__", action.type), action.nargs)


def test_shared_flags_have_the_same_choices_and_defaults_everywhere():
    seen: dict[str, dict[str, tuple]] = {}
    for command, parser in _subcommands().items():
        for action in parser._actions:
            for flag in action.option_strings:
                if flag in SHARED:
                    seen.setdefault(flag, {})[command] = _describe(action)
    for flag, commands in SHARED.items():
        have = seen.get(flag, {})
        assert set(commands) <= set(have), f"{flag} missing from {sorted(set(commands) - set(have))}"
        if flag == "--config":  # collapse's is its own TOML: the same kind of option, not the same keys
            have = {c: d for c, d in have.items() if c != "collapse"}
        assert len(set(have.values())) == 1, f"{flag} differs between subcommands: {have}"
    assert "lrr" in seen["--statistic"]["serve"][1]
    assert seen["--normalize"]["train-detector"][2] is None  # the config's default (none), as everywhere


def test_version():
    result = hygiene("--version")
    assert result.returncode == 0 and result.stdout.startswith("hygiene (corpus-hygiene) ")


def _corpus(tmp_path, n=12, bad=2):
    texts = [f"Entry {i}: the {'red blue green'.split()[i % 3]} committee met on day {i} and agreed to revisit "
             f"item {i * 7} next week, after {i % 4} delays." for i in range(n)]
    pq.write_table(pa.table({"text": texts + [texts[0]] + [None] * bad}), tmp_path / "a.parquet")


def test_json_prints_one_object_on_stdout_and_quiet_silences_every_bar(tmp_path):
    _corpus(tmp_path)
    result = hygiene("clean", "a.parquet", "--out", "out", "--max-tokens", "32", "--threshold", "100",
                     "--json", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)  # nothing else on stdout
    assert summary["out"] == "out" and summary["report"] == "out/report.html"
    assert summary["counts"]["rows"] == 15 and summary["counts"]["quarantined"] == 2
    assert summary["outputs"]["kept"] == "kept/**/*.parquet"
    assert "finished: 15 rows in" in result.stderr  # the lines for people moved to stderr
    assert "%|" not in result.stderr and "it/s" not in result.stderr, result.stderr  # no bar, ours or the model's

    noisy = hygiene("dedup", "a.parquet", "--out", "out2", cwd=tmp_path)
    assert noisy.returncode == 0 and "%|" in noisy.stderr and noisy.stdout.startswith("finished: 15 rows in")


class _Recorder:
    def __init__(self):
        self.stages: list[list] = []

    def start(self, stage, total):
        self.stages.append([stage, total, 0])

    def advance(self, n):
        self.stages[-1][2] += n

    def finish(self):
        pass


def test_progress_never_runs_past_its_total(tmp_path):
    _corpus(tmp_path, bad=3)
    progress = _Recorder()
    run([tmp_path / "a.parquet"], tmp_path / "out", CleanConfig(detector=DetectorSettings(kind="none"),
                                                               batch_rows=4), progress=progress)
    assert [s[0] for s in progress.stages] == ["score", "write"]
    assert all(total == done == 16 for _, total, done in progress.stages), progress.stages


def test_risk_refuses_a_small_corpus_before_loading_a_model(tmp_path):
    _corpus(tmp_path, n=30)
    pq.write_table(pa.table({"text": ["a", "b"], "label": [0, 1]}), tmp_path / "ref.parquet")
    # A model that does not exist: had risk got as far as loading it, the error would be another one.
    result = hygiene("risk", "a.parquet", "--out", "r", "--model", str(tmp_path / "no-model"), "--threshold", "0",
                     "--detector-reference", "ref.parquet", cwd=tmp_path)
    assert result.returncode == 1 and "corpus too small" in result.stderr and "at least 50" in result.stderr
    assert not (tmp_path / "r").exists()


def test_risk_refuses_to_replace_a_report_without_overwrite(tmp_path):
    _corpus(tmp_path)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "risk.json").write_text("{}")
    result = hygiene("risk", "a.parquet", "--out", "r", cwd=tmp_path)
    assert result.returncode == 1 and "already holds a risk report" in result.stderr
    assert "--overwrite" in result.stderr and (tmp_path / "r" / "risk.json").read_text() == "{}"


@pytest.mark.parametrize("command", ["train-detector", "eval-detector"])
def test_detector_commands_take_the_shared_config(tmp_path, command):
    (tmp_path / "job.toml").write_text('text_column = "body"\n')
    (tmp_path / "l.jsonl").write_text('{"text": "a line", "label": 0}\n')
    extra = ["--out", "m"] if command == "train-detector" else []
    result = hygiene(command, "l.jsonl", *extra, "--config", "job.toml", "--quiet", cwd=tmp_path)
    assert result.returncode == 1 and "'body'" in result.stderr, result.stderr
