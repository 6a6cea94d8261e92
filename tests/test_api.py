"""The Python API (`import hygiene; hygiene.clean(...)`): the README's example runs as written, settings are
checked, results are typed, and importing `hygiene` loads nothing heavy."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hygiene
from hygiene.errors import ConfigError, RiskError, RunError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):text.index("## Service")]
    test = doctest.DocTestParser().get_doctest(section, {}, "README.md#python-api", str(README), 0)
    assert len(test.examples) >= 8
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_importing_hygiene_is_cheap():
    code = "import sys, hygiene; hygiene.__version__; print(sorted(k for k in ('pyarrow', 'torch', 'numpy', " \
           "'transformers') if k in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stderr


def test_settings_are_checked_and_results_typed(tmp_path):
    pq.write_table(pa.table({"text": ["one doc here", "another doc there", "one doc here"]}), tmp_path / "a.parquet")
    with pytest.raises(ConfigError, match="no_such_setting"):
        hygiene.clean(tmp_path / "a.parquet", tmp_path / "out", no_such_setting=1)
    (tmp_path / "job.toml").write_text('batch_rows = 2\n[dedup]\nnear = false\n')
    result = hygiene.deduplicate([tmp_path / "a.parquet"], tmp_path / "out", config=tmp_path / "job.toml",
                           output_format="jsonl", add_id=True)
    assert isinstance(result, hygiene.RunResult) and result.report.is_file()
    config = result.manifest["config"]
    assert config["batch_rows"] == 2 and config["dedup"]["near"] is False and config["detector"]["kind"] == "none"
    assert (tmp_path / "out" / "kept" / "a.jsonl").read_text().count('"id": "a:') == 2
    with pytest.raises(RunError, match="already holds a finished run"):
        hygiene.deduplicate([tmp_path / "a.parquet"], tmp_path / "out")
    assert hygiene.make_config(threshold=1.5).threshold == 1.5


def test_assess_risk_passes_options_and_refuses_before_scoring(tmp_path):
    pq.write_table(pa.table({"text": [f"document {i} of a corpus" for i in range(60)]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"text": ["a", "b"], "label": [0, 1]}), tmp_path / "ref.parquet")
    # sample reaches the assessment's options, the rest the job; a model that does not exist is never loaded
    with pytest.raises(RiskError, match=r"10 documents sampled \(--sample 10\)"):
        hygiene.assess_risk(tmp_path / "a.parquet", sample=10, threshold=0.0,
                            detector_reference=[str(tmp_path / "ref.parquet")],
                            detector={"model": str(tmp_path / "no-model")})
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "risk.html").write_text("mine")
    with pytest.raises(RunError, match="already holds a risk report"):
        hygiene.assess_risk(tmp_path / "a.parquet", tmp_path / "r")
    assert (tmp_path / "r" / "risk.html").read_text() == "mine"
