"""The console's templates rendered directly: numbers as people read them (shares as percentages, an
infinite predicted horizon, which the JSON writes as null, as words), and the job page's live refresh."""

from __future__ import annotations

from service import schemas as S
from service.console import templates

RISK_COUNTS = {"rows": 400, "quarantined": 0, "readable": 400, "integrity": 90.3, "grade": "A",
               "machine_fraction": 0.2345, "machine_fraction_low": 0.192, "machine_fraction_high": 0.28,
               "duplicate_rate": 0.0025, "generations_raw": None, "generations_cleaned": 12.25}


def _job(**fields) -> S.Job:
    base = {"id": "0" * 32, "kind": "clean", "state": "succeeded", "inputs": ["/data/a.parquet"],
            "created": "2026-01-02T03:04:05.000+00:00", "started": "2026-01-02T03:04:05.000+00:00",
            "finished": "2026-01-02T03:05:10.500+00:00", "stage": "write", "rows_done": 10, "rows_total": 10,
            "counts": None, "timings_s": {"score": 61.2}, "error": None, "attempts": 1, "duration_s": 65.5,
            "config": {}, "risk": None}
    return S.Job(**{**base, **fields})


def _render(job: S.Job, **context) -> str:
    values = {"base": "", "version": "test", "detector": None, "logout": False, "refresh": None, "notice": None,
              "error": None, "page": None, "title": "t", "job": job, "outputs": [], **context}
    return templates.env.get_template("job.html").render(values)


def test_a_risk_result_reads_as_words_and_percentages():
    html = _render(_job(kind="risk", counts=RISK_COUNTS))
    assert "23.4 % (19.2 % – 28.0 %)" in html and "0.2 %" in html
    assert "no collapse predicted" in html and "12.2 generations" in html
    assert "None" not in html and "<b>A</b>" in html


def test_a_clean_result_lists_removals_by_reason_and_times_in_words():
    counts = {"rows": 1200, "kept": 1000, "removed": 150, "scored": 0, "quarantined": 50,
              "removed_by_reason": {"exact_duplicate": 100, "near_duplicate": 20, "machine_generated": 30}}
    html = _render(_job(counts=counts))
    assert "1,200" in html and "exact duplicate" in html and "machine generated" in html
    assert "1 min 6 s" in html and "1 min 1 s" in html  # duration 65.5 s, score 61.2 s
    assert "2026-01-02 03:04:05 UTC" in html and "scored" not in html.split("Outputs")[0]


def test_only_a_live_job_page_refreshes():
    live = _render(_job(state="running", finished=None, counts=None, rows_done=3), refresh=2)
    assert '<meta http-equiv="refresh" content="2">' in live and "Cancel job" in live
    assert "3 of 10 rows (30 %)" in live
    done = _render(_job(counts={"rows": 0, "kept": 0, "removed": 0, "quarantined": 0, "removed_by_reason": {}}))
    assert "http-equiv" not in done and "Delete job and outputs" in done and "Open report" in done
