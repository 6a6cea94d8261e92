"""The service with the real offline scorer LM, run as `hygiene serve` in its own process.

One server is killed with SIGKILL in the middle of a job and restarted on the same job store: the job
must finish with outputs identical to an uninterrupted run of the same job, and no row lost or written
twice. The restarted server then serves the end-to-end job and /v1/score checks.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_support import free_port, kill9, start_process_server, stop, wait_job, wait_ready

from hygiene.io import columns as C

MAX_TOKENS = 32
SHARDS, ROWS = 3, 12
_VOCAB = ["".join(random.Random(i).choices("aeioubcdfghklmnprstvw", k=3 + i % 6)) for i in range(600)]


def _doc(rng: random.Random) -> str:
    return " ".join(rng.choice(_VOCAB) for _ in range(rng.randint(15, 40))).capitalize() + "."


def _corpus(data: Path) -> list[str]:
    rng = random.Random(7)
    texts = []
    for s in range(SHARDS):
        docs = [_doc(rng) for _ in range(ROWS)]
        if s:
            docs[0] = texts[3]  # an exact copy of a row in shard 0
        docs[1] = None  # unreadable: quarantined
        texts.extend(d for d in docs if d)
        pq.write_table(pa.table({"text": docs, "id": [f"s{s}-{i}" for i in range(ROWS)]}),
                       data / f"part-{s}.parquet", row_group_size=4)
    return texts


def _start(data: Path, jobs: Path, log: Path) -> tuple[object, str]:
    port = free_port()
    proc = start_process_server(["--data-root", str(data), "--output-root", str(jobs), "--max-tokens",
                                 str(MAX_TOKENS), "--threshold", "-3.0", "--batch-size", "8", "--log-level",
                                 "warning"], port, log)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, proc=proc)
    return proc, base


_JOB = {"kind": "clean", "inputs": ["."], "config": {"batch_rows": 4, "dedup": {"threshold": 0.7}}}


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """A job interrupted by SIGKILL after its first shard, then the server restarted on the same store."""
    tmp = tmp_path_factory.mktemp("service-model")
    data, jobs, log = tmp / "data", tmp / "jobs", tmp / "server.log"
    data.mkdir()
    texts = _corpus(data)
    proc, base = _start(data, jobs, log)
    try:
        client = httpx.Client(base_url=base, timeout=60)
        job = client.post("/v1/jobs", json=_JOB).json()
        signals = jobs / job["id"] / C.WORK_DIR / "signals"
        deadline = time.monotonic() + 120
        while not (signals.is_dir() and any(signals.glob("*.parquet"))):
            assert time.monotonic() < deadline, "no shard finished scoring in time"
            time.sleep(0.02)
        kill9(proc)  # the first shard is scored, the rest are not: a crash mid-job
        scored_at_kill = len(list(signals.glob("*.parquet")))
    finally:
        stop(proc)
    proc, base = _start(data, jobs, log)
    client = httpx.Client(base_url=base, timeout=60)
    yield {"client": client, "job": job["id"], "jobs": jobs, "texts": texts, "scored_at_kill": scored_at_kill}
    stop(proc)


def _outputs(out: Path) -> dict[str, pa.Table]:
    return {f"{d}/{p.name}": pq.read_table(p) for d in (C.KEPT_DIR, C.REMOVED_DIR, C.QUARANTINE_DIR)
            for p in sorted((out / d).glob("*.parquet"))}


def test_killed_job_resumes_and_matches_an_uninterrupted_run(crashed):
    client, jobs = crashed["client"], crashed["jobs"]
    assert 1 <= crashed["scored_at_kill"] < SHARDS
    resumed = wait_job(client, crashed["job"], timeout=300)
    assert resumed["state"] == "succeeded", resumed
    assert resumed["attempts"] == 2  # re-queued at start-up, not started afresh
    fresh = wait_job(client, client.post("/v1/jobs", json=_JOB).json()["id"], timeout=300)
    assert fresh["state"] == "succeeded" and fresh["attempts"] == 1
    assert resumed["counts"] == fresh["counts"]
    a, b = _outputs(jobs / crashed["job"]), _outputs(jobs / fresh["id"])
    assert a.keys() == b.keys() and len(a) >= 2 * SHARDS  # kept and quarantine; removed where a shard lost rows
    for name in a:
        assert a[name].equals(b[name]), name
    # no row lost, none written twice
    ids = [i for name, t in a.items() if not name.startswith(C.QUARANTINE_DIR) for i in t.column("id").to_pylist()]
    quarantined = sum(t.num_rows for name, t in a.items() if name.startswith(C.QUARANTINE_DIR))
    assert len(ids) == len(set(ids)) == SHARDS * ROWS - quarantined and quarantined == SHARDS
    manifest = client.get(f"/v1/jobs/{crashed['job']}/report").json()
    assert manifest["resumed"] is True and manifest["counts"]["rows"] == SHARDS * ROWS
    assert manifest["counts"]["removed_by_reason"]["exact_duplicate"] == SHARDS - 1
    assert manifest["detector"]["max_tokens"] == MAX_TOKENS


def test_score_job_report_and_rest_scores_agree(crashed):
    client, jobs = crashed["client"], crashed["jobs"]
    job = client.post("/v1/jobs", json={"kind": "score", "inputs": ["part-0.parquet"]}).json()
    done = wait_job(client, job["id"], timeout=300)
    assert done["state"] == "succeeded" and done["counts"]["scored"] == ROWS - 1
    html = client.get(f"/v1/jobs/{job['id']}/report?format=html")
    assert html.status_code == 200 and "<html" in html.text.lower()
    scored = pq.read_table(jobs / job["id"] / C.SCORED_DIR / "part-0.parquet").to_pylist()
    texts = [row["text"] for row in scored[:10]]
    r = client.post("/v1/score", json={"texts": texts})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["detector"]["model"].startswith("SmolLM2-135M") and body["detector"]["max_tokens"] == MAX_TOKENS
    for row, result in zip(scored, body["results"]):
        assert result["score"] == pytest.approx(row[C.SCORE], abs=1e-4)  # the same detector as the pipeline
        assert result["decision"] == ("machine" if row[C.SCORE] >= -3.0 else "human")
        # a 32-token window is not what the shipped reference scores were measured with: no probability
        assert result["probability"] is None and 0 < result["n_tokens"] <= MAX_TOKENS
    assert client.get("/readyz").json()["status"] == "ok"
    assert "hygiene_docs_scored_total 10.0" in client.get("/metrics").text


def test_rest_job_normalizes_exactly_as_the_cli(crashed, tmp_path):
    """A REST job with detector.normalize = "nfkc" scores as `hygiene score --normalize nfkc` (it once was
    scored un-normalised while its manifest said nfkc)."""
    client, jobs = crashed["client"], crashed["jobs"]
    data = jobs.parent / "data"
    tricked = ["Тhе соmmittее mеt tоdау\u200b and agrееd оn thе budgеt.",  # Cyrillic look-alikes, zero width
               "Ｆｕｌｌｗｉｄｔｈ letters   and\u00a0odd   spacing in a short report.",
               "A plain sentence about the weather in the city this week."]
    pq.write_table(pa.table({"text": tricked}), data / "tricked.parquet")
    scores = {}
    for normalize in ("nfkc", "none"):
        job = client.post("/v1/jobs", json={"kind": "score", "inputs": ["tricked.parquet"],
                                            "config": {"detector": {"normalize": normalize}}}).json()
        done = wait_job(client, job["id"], timeout=300)
        assert done["state"] == "succeeded", done
        assert done["config"]["detector"]["normalize"] == normalize
        table = pq.read_table(jobs / job["id"] / C.SCORED_DIR / "tricked.parquet")
        scores[normalize] = np.array(table.column(C.SCORE).to_pylist())
    cli = subprocess.run(
        [sys.executable, "-m", "hygiene_cli", "score", str(data / "tricked.parquet"), "--out", str(tmp_path / "cli"),
         "--normalize", "nfkc", "--max-tokens", str(MAX_TOKENS), "--batch-size", "8", "--threshold", "-3.0",
         "--quiet"], capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    expected = np.array(pq.read_table(tmp_path / "cli" / C.SCORED_DIR / "tricked.parquet").column(C.SCORE).to_pylist())
    assert np.allclose(scores["nfkc"], expected, atol=1e-6)
    assert np.abs(scores["none"][:2] - expected[:2]).min() > 1e-3  # normalising changes the tricked rows' scores
    assert scores["none"][2] == pytest.approx(expected[2], abs=1e-6)  # and leaves plain text alone


def test_settings_the_loaded_model_cannot_run_are_refused_at_submission(crashed):
    """Issue 11, item 6: a window the model cannot hold (8192 text tokens + BOS > 8192 positions) or a batch of
    1e20 records is a 422 naming the field, not a job that fails when it runs."""
    client = crashed["client"]
    before = len(client.get("/v1/jobs").json()["jobs"])
    window = client.post("/v1/jobs", json={"inputs": ["part-0.parquet"], "config": {"detector": {"max_tokens": 8192}}})
    assert window.status_code == 422 and "detector.max_tokens = 8192 does not fit" in window.text, window.text
    rows = client.post("/v1/jobs", json={"inputs": ["part-0.parquet"], "config": {"batch_rows": 1e20}})
    assert rows.status_code == 422 and "batch_rows" in rows.text, rows.text
    assert len(client.get("/v1/jobs").json()["jobs"]) == before
