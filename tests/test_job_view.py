"""What a client sees of a job record: no server directory, no Redis password."""

from __future__ import annotations

from pathlib import Path

from service.jobs import JobRecord
from service.schemas import job_view


def test_a_job_view_hides_server_paths_and_the_index_password(tmp_path: Path):
    data = tmp_path / "data"
    record = JobRecord(id="a" * 32, kind="clean", state="failed", inputs=[str(data / "sub" / "a.parquet")],
                       config={"dedup": {"index": "redis://hygiene:s3cret-pass@cache.internal:6379/2", "exact": True},
                               "threshold": -3.0},
                       annotate_kept=False, out=tmp_path / "jobs" / ("a" * 32), created="2026-01-01T00:00:00+00:00",
                       started=None, finished=None, stage=None, rows_done=0, rows_total=None, counts=None,
                       timings=None, error=f"cannot read {data}/sub/a.parquet", attempts=1)
    view = job_view(record, (data, tmp_path / "jobs"))
    shown = view.model_dump_json()
    assert "s3cret-pass" not in shown and "hygiene:" not in shown
    assert view.config["dedup"] == {"index": "redis://***@cache.internal:6379/2", "exact": True}
    assert str(tmp_path) not in shown and view.inputs == ["sub/a.parquet"]
    assert record.config["dedup"]["index"].startswith("redis://hygiene:s3cret")  # the record itself is unchanged
