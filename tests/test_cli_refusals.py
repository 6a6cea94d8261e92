"""Settings and outputs that cannot work are refused before any model is loaded or any row scored, with a
message that names the problem (found by a user-level audit of the command line)."""

from __future__ import annotations

import socket
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_cli import hygiene

import hygiene as api
from hygiene.config import DetectorSettings, load_config
from hygiene.errors import ConfigError, ShardError, ThresholdError
from hygiene.risk import RiskOptions
from hygiene.risk.assess import check_inputs

TEXTS = [f"Note {i}: the committee met on day {i} and agreed to revisit item {i * 3} next week." for i in range(60)]


@pytest.fixture()
def shard(tmp_path):
    pq.write_table(pa.table({"text": TEXTS}), tmp_path / "a.parquet")
    return tmp_path


def _refused(run, *words: str) -> None:
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    for word in words:
        assert word in run.stderr, run.stderr


@pytest.mark.parametrize("content, why", [
    ("not json\n", "Expecting value"),
    ('{"threshold": "x"}\n', "missing keys"),
    ("[1, 2]\n", "expected a JSON object"),
])
def test_a_file_that_is_not_a_calibration_is_named_not_a_traceback(shard, content, why):
    (shard / "cal.json").write_text(content)
    for command in ("clean", "score", "eval-detector"):
        run = hygiene(command, "a.parquet", "--out", f"o-{command}", "--calibration", "cal.json", "--quiet",
                      cwd=shard)
        _refused(run, "cal.json is not a calibration file written by `hygiene calibrate`", why)
    with pytest.raises(ThresholdError, match="not a calibration file"):  # the API raises a HygieneError too
        api.clean([shard / "a.parquet"], shard / "o-api", calibration=str(shard / "cal.json"))


def test_an_unreachable_ray_cluster_fails_in_seconds(shard):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'corpus-hygiene[ray]')")
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    run = hygiene("dedup", "a.parquet", "--out", "o", "--engine", "ray", "--ray-address", f"127.0.0.1:{port}",
                  "--quiet", cwd=shard)
    _refused(run, f"cannot reach the Ray cluster at 127.0.0.1:{port}", "--ray-address")
    assert time.monotonic() - start < 60  # ray.init alone retried for minutes and ignored Ctrl-C


def test_a_detector_reference_without_labels_is_refused_before_scoring(shard):
    options = RiskOptions(detector_reference=(str(shard / "a.parquet"),))
    with pytest.raises(ShardError, match="no label column 'label'"):
        check_inputs([shard / "a.parquet"], load_config(), options)


def test_an_output_directory_that_cannot_be_created_says_so(shard):
    (shard / "afile").write_text("x")
    _refused(hygiene("dedup", "a.parquet", "--out", "afile/sub", "--quiet", cwd=shard),
             "cannot create the output directory afile/sub")


def test_calibrate_and_train_detector_replace_outputs_only_with_overwrite(shard):
    (shard / "cal.json").write_text("{}")
    _refused(hygiene("calibrate", "a.parquet", "--out", "cal.json", "--quiet", cwd=shard),
             "cal.json already exists", "--overwrite")
    (shard / "cal-dir").mkdir()
    _refused(hygiene("calibrate", "a.parquet", "--out", "cal-dir", "--quiet", cwd=shard), "is not a file")
    (shard / "mine").mkdir()
    (shard / "mine" / "notes.txt").write_text("my notes")
    for extra in ([], ["--overwrite"]):  # a directory of the user's files is never written into
        _refused(hygiene("train-detector", "a.parquet", "--out", "mine", "--quiet", *extra, cwd=shard),
                 "holds no trained detector")
    (shard / "model").mkdir()
    (shard / "model" / "detector.json").write_text("{}")
    _refused(hygiene("train-detector", "a.parquet", "--out", "model", "--quiet", cwd=shard),
             "model already exists", "--overwrite")
    assert (shard / "mine" / "notes.txt").read_text() == "my notes"


@pytest.mark.parametrize("flags, what", [
    (["--threshold", "-2"], "--threshold = -2.0 has no effect"),
    (["--calibration", "cal.json"], "--calibration = 'cal.json' has no effect"),
    (["--keep-machine"], "keeping machine text"),
])
def test_detector_settings_with_no_detector_are_refused(shard, flags, what):
    _refused(hygiene("clean", "a.parquet", "--out", "o", "--detector", "none", *flags, "--quiet", cwd=shard),
             what, "detector kind 'none'")


def test_a_run_that_can_find_nothing_is_refused(shard):
    _refused(hygiene("dedup", "a.parquet", "--out", "o", "--no-exact-dedup", "--no-near-dedup", "--quiet",
                     cwd=shard), "nothing to find")
    assert not (shard / "o").exists()



@pytest.mark.parametrize("settings, what", [
    ({"detector": {"kind": "none"}, "threshold": 1.0}, "`threshold` = 1.0 has no effect"),
    ({"detector": {"kind": "features", "max_tokens": 64}}, "`max_tokens` = 64 is not read by the 'features'"),
    ({"detector": DetectorSettings(kind="features", max_tokens=64)}, "`max_tokens` = 64 is not read"),
])
def test_the_python_api_refuses_what_the_detector_would_not_read(shard, settings, what):
    with pytest.raises(ConfigError, match=what):
        api.clean([shard / "a.parquet"], shard / "o", **settings)
    assert not (shard / "o").exists()
