"""Job outputs over a real uvicorn server on loopback: Location headers, listing and downloading a job's
files (confined to its directory, naming server files as a client does), deleting finished jobs with their
outputs, and the project metrics."""

from __future__ import annotations

import io
import json
import re
import shutil

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_support import REPO, TOKEN, FakeScorer, thread_server, wait_job

from service import create_app, load_settings

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def served(tmp_path):
    data, jobs = tmp_path / "data", tmp_path / "jobs"
    data.mkdir()
    texts = [f"Document {i} tells {'more ' * (i % 5)}of the story." for i in range(24)]
    pq.write_table(pa.table({"text": texts + texts[:3]}), data / "a.parquet")  # 3 exact copies
    (tmp_path / "secret.txt").write_text("not yours")
    settings = load_settings(env={}, service={"output_root": str(jobs), "data_roots": [str(data)], "token": TOKEN},
                             job={"threshold": -3.0, "batch_rows": 8})
    with thread_server(create_app(settings, scorer=FakeScorer())) as base:
        with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
            yield client, jobs


def _finished_job(client: httpx.Client) -> dict:
    r = client.post("/v1/jobs", json={"kind": "clean", "inputs": ["a.parquet"], "config": {"dedup": {"near": False}}})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
    assert client.get(r.headers["location"]).json()["id"] == r.json()["id"]
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded", job
    return job


def test_outputs_are_listed_and_downloaded(served):
    client, jobs = served
    job = _finished_job(client)
    assert job["duration_s"] is not None and job["duration_s"] >= 0
    listing = client.get(f"/v1/jobs/{job['id']}/outputs").json()
    paths = {f["path"]: f for f in listing["files"]}
    assert {"manifest.json", "report.html", "kept/a.parquet", "removed/a.parquet"} <= set(paths)
    assert not [p for p in paths if p.startswith(".") or "/." in p]  # .work/ stays private
    kept = paths["kept/a.parquet"]
    assert kept["bytes"] == (jobs / job["id"] / "kept" / "a.parquet").stat().st_size
    got = client.get(kept["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "application/octet-stream"
    assert 'attachment; filename="a.parquet"' in got.headers["content-disposition"]
    assert pq.read_table(io.BytesIO(got.content)).num_rows == job["counts"]["kept"]
    removed = pq.read_table(io.BytesIO(client.get(paths["removed/a.parquet"]["url"]).content))
    assert removed.num_rows == job["counts"]["removed"] and job["counts"]["removed_by_reason"]["exact_duplicate"] == 3


@pytest.mark.parametrize(("raw", "status"), [
    ("%2e%2e/%2e%2e/secret.txt", 403), ("kept/%2e%2e/%2e%2e/%2e%2e/secret.txt", 403), (".work/x", 403),
    ("%2Fetc%2Fpasswd", 403), ("kept/nothing.parquet", 404), ("kept", 404),
])
def test_downloads_stay_inside_the_job_directory(served, raw, status):
    client, _ = served
    job = _finished_job(client)
    r = httpx.get(f"{client.base_url}/v1/jobs/{job['id']}/outputs/{raw}", headers=AUTH)
    assert r.status_code == status, (raw, r.text)
    assert r.json()["error"]["code"] == ("path_refused" if status == 403 else "output_not_found")
    assert "not yours" not in r.text


def _downloaded_text(client: httpx.Client, file: dict) -> str:
    """An output file as text: a parquet file's rows as JSON, anything else decoded."""
    body = client.get(file["url"]).content
    if file["path"].endswith(".parquet"):
        return json.dumps(pq.read_table(io.BytesIO(body)).to_pylist(), default=str)
    return body.decode("utf-8", "replace")


@pytest.mark.parametrize("kind", ["clean", "score"])
def test_outputs_name_server_files_as_a_client_does(served, tmp_path, kind):
    """Every file a client can download names inputs, calibration and sources relative to the data root
    (as the client named them), never the server's absolute path; the corpus's own text is left intact."""
    client, jobs = served
    data = tmp_path / "data"
    (data / "sub").mkdir()
    texts = [f"Story {i} of {'many ' * (i % 4)}words, see /usr/share/doc/story-{i}.txt" for i in range(16)]
    pq.write_table(pa.table({"text": [*texts, "x"]}), data / "sub" / "b.parquet")  # "x": unscored, quarantined
    shutil.copy(REPO / "detectors" / "calibrations" / "smollm2-135m-likelihood.json", data / "cal.json")
    r = client.post("/v1/jobs", json={"kind": kind, "inputs": ["sub/b.parquet"],
                                      "config": {"threshold": None, "calibration": "cal.json"}})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded" and job["counts"]["quarantined"] == 1, job
    files = {f["path"]: f for f in client.get(f"/v1/jobs/{job['id']}/outputs").json()["files"]}
    assert {"manifest.json", "report.html", "README.md", "quarantine/b.parquet"} <= set(files)
    for path, file in files.items():
        text = _downloaded_text(client, file)
        assert str(tmp_path) not in text and str(tmp_path.resolve()) not in text, path
    manifest = json.loads(_downloaded_text(client, files["manifest.json"]))
    assert manifest["inputs"][0]["path"] == "sub/b.parquet"
    assert manifest["config"]["calibration"] == manifest["threshold"]["source"] == "cal.json"
    quarantine = pq.read_table(io.BytesIO(client.get(files["quarantine/b.parquet"]["url"]).content))
    assert quarantine.column("hygiene_source").to_pylist() == ["sub/b.parquet"]
    assert "threshold from cal.json" in _downloaded_text(client, files["report.html"])
    assert client.get(f"/v1/jobs/{job['id']}/report").json() == manifest  # the raw file is what /report shows
    if kind == "clean":  # example excerpts are the corpus's text: their paths are not server paths to cut
        examples = [e for group in manifest["summary"]["removed_examples"].values() for e in group]
        assert examples and all("/usr/share/doc/story-" in e["excerpt"] for e in examples)


def test_delete_cancels_live_jobs_and_removes_finished_ones(served):
    client, jobs = served
    job = _finished_job(client)
    out = jobs / job["id"]
    assert (out / "manifest.json").exists()
    r = client.delete(f"/v1/jobs/{job['id']}")
    assert r.status_code == 204, r.text
    assert not out.exists() and not list(jobs.glob(".deleted-*"))
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}/outputs").status_code == 404
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 404
    assert job["id"] not in [j["id"] for j in client.get("/v1/jobs").json()["jobs"]]


def test_outputs_of_an_unfinished_job_are_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(20)]}), data / "a.parquet")
    settings = load_settings(env={}, service={"output_root": str(tmp_path / "jobs"), "data_roots": [str(data)]},
                             job={"threshold": -3.0, "batch_rows": 4})
    with thread_server(create_app(settings, scorer=FakeScorer(delay_s=0.3))) as base:
        client = httpx.Client(base_url=base, timeout=30)
        job = client.post("/v1/jobs", json={"inputs": ["a.parquet"]}).json()
        wait_job(client, job["id"], until=("running",))
        r = client.get(f"/v1/jobs/{job['id']}/outputs")
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_finished"
        cancelled = client.delete(f"/v1/jobs/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["id"] == job["id"]  # running: a cancel
        assert wait_job(client, job["id"])["state"] == "cancelled"
        assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204  # finished: deleted
        assert not (tmp_path / "jobs" / job["id"]).exists()


def test_upload_answers_with_its_location(served):
    client, _ = served
    sink = io.BytesIO()
    pq.write_table(pa.table({"text": ["one", "two"]}), sink)
    r = client.post("/v1/uploads", params={"filename": "x.parquet"}, content=sink.getvalue(),
                    headers={"content-type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v1/uploads/{r.json()['id']}"
    assert client.get(r.headers["location"]).json()["rows"] == 2


def test_metrics_cover_the_process_routes_and_jobs(served):
    client, _ = served
    job = _finished_job(client)
    client.get("/docs")
    text = client.get("/metrics").text
    assert re.search(r"^process_cpu_seconds_total \d", text, re.M) and "python_info{" in text
    assert 'route="/docs"' in text and 'route="/v1/jobs/{job_id}"' in text
    counts = job["counts"]
    assert f'hygiene_job_docs_scored_total{{kind="clean"}} {float(counts["rows"] - counts["quarantined"])}' in text
    removed = counts["removed_by_reason"]
    assert f'hygiene_job_rows_removed_total{{reason="exact_duplicate"}} {float(removed["exact_duplicate"])}' in text
    assert 'hygiene_job_duration_seconds_count{kind="clean",state="succeeded"} 1.0' in text
    assert re.search(r'hygiene_build_info\{python="[\d.]+",version="[^"]+"\} 1\.0', text)
