"""Shard uploads and risk jobs over a real uvicorn server on loopback, with the test scorer injected.

Uploads: streamed to disk, size-limited, names checked, files checked like any job input, usable as job
inputs. Risk jobs: hygiene.risk.assess in the job worker, risk.json + risk.html as the report, re-run
after a restart. MiniLM is never loaded here (`embeddings: false`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_support import TOKEN, FakeScorer, thread_server, wait_job

from hygiene.config import CleanConfig
from service import create_app, load_settings
from service.jobs import JobStore
from service.routers import jobs as jobs_router
from service.submit import prepare_job

AUTH = {"Authorization": f"Bearer {TOKEN}"}
RAW = {"content-type": "application/octet-stream"}
VOCAB = "river stone market winter signal garden copper lantern orbit meadow harbor violet thunder canvas".split()


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _text(rng, residue: int) -> str:
    """Random words padded so the test scorer gives -(residue) - 0.5: residues 0-2 score as machine at -3."""
    text = " ".join(rng.choice(VOCAB, 12))
    while len(text) % 7 != residue:
        text += "!"
    return text


def _human(rng, i: int) -> str:
    return _text(rng, 5 if i % 6 else 1)  # one in six a false positive


def _machine(rng, i: int) -> str:
    return _text(rng, 0 if i % 6 else 4)  # one in six missed


@pytest.fixture()
def dirs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    reference = [_human(rng, i) for i in range(30)] + [_machine(rng, i) for i in range(30)]
    pq.write_table(pa.table({"text": reference, "label": [0] * 30 + [1] * 30}), data / "reference.parquet")
    corpus = [_human(rng, i) for i in range(60)] + [_machine(rng, i) for i in range(20)]
    pq.write_table(pa.table({"text": corpus + corpus[:4]}), data / "corpus.parquet")  # 4 exact copies
    pq.write_table(pa.table({"body": ["no text column"] * 60, "label": [0] * 60}), data / "no_text.parquet")
    return data, tmp_path / "jobs"


def _settings(dirs, **service):
    data, out = dirs
    base = {"output_root": str(out), "data_roots": [str(data)], "token": TOKEN, "max_shard_bytes": 64 << 10}
    return load_settings(env={}, service={**base, **service}, job={"threshold": -3.0, "batch_rows": 16})


@pytest.fixture()
def server(dirs):
    with thread_server(create_app(_settings(dirs), scorer=FakeScorer())) as base:
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
            yield client


def _error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"] and "Traceback" not in response.text
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def _nothing_stored(out):
    assert [p.name for p in (out / "uploads").iterdir()] == []
    assert [p.name for p in (out / "uploads.partial").iterdir()] == []


def test_upload_then_job_then_report(dirs):
    # 0.3 s per 16-row batch keeps the job in flight (>= 0.9 s) while the upload's deletion is refused
    with thread_server(create_app(_settings(dirs), scorer=FakeScorer(delay_s=0.3))) as base:
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
            _upload_job_report(client, dirs[1])


def _upload_job_report(client, out):
    texts = [f"Uploaded document {i} with {'many ' * (i % 4)}words." for i in range(30)]
    body = _parquet_bytes(pa.table({"text": texts + texts[:3]}))
    r = client.post("/v1/uploads", params={"filename": "part-0001.parquet"}, content=body, headers=RAW)
    assert r.status_code == 201, r.text
    up = r.json()
    assert (up["filename"], up["format"], up["rows"], up["bytes"]) == ("part-0001.parquet", "parquet", 33, len(body))
    assert up["sha256"] == hashlib.sha256(body).hexdigest() and up["path"] == f"{up['id']}/part-0001.parquet"
    assert (out / "uploads" / up["id"] / "part-0001.parquet").read_bytes() == body
    lines = "".join(json.dumps({"text": t}) + "\n" for t in texts[:5]).encode()
    gz = client.post("/v1/uploads", params={"filename": "extra.jsonl.gz"}, content=gzip.compress(lines),
                     headers={"content-type": "application/gzip"}).json()
    assert (gz["format"], gz["rows"]) == ("jsonl", 5)
    assert [u["id"] for u in client.get("/v1/uploads").json()["uploads"]] == [gz["id"], up["id"]]
    assert client.get(f"/v1/uploads/{up['id']}").json() == up

    job = client.post("/v1/jobs", json={"inputs": [up["id"], gz["path"]], "config": {"dedup": {"near": False}}})
    assert job.status_code == 202, job.text
    _error(client.delete(f"/v1/uploads/{up['id']}"), 409, "upload_in_use")  # queued or running: kept
    done = wait_job(client, job.json()["id"])
    assert done["state"] == "succeeded", done
    assert done["counts"]["rows"] == 38 and done["counts"]["removed_by_reason"]["exact_duplicate"] == 8
    manifest = client.get(f"/v1/jobs/{done['id']}/report").json()
    assert manifest["counts"] == done["counts"]

    assert client.delete(f"/v1/uploads/{up['id']}").status_code == 204  # the job finished: outputs stay
    _error(client.get(f"/v1/uploads/{up['id']}"), 404, "upload_not_found")
    assert not (out / "uploads" / up["id"]).exists() and (out / done["id"] / "manifest.json").exists()
    _error(client.post("/v1/jobs", json={"inputs": [up["id"]]}), 404, "path_error")
    _error(client.delete(f"/v1/uploads/{up['id']}"), 404, "upload_not_found")
    _error(client.get("/v1/uploads/not-an-id"), 422)


def test_a_slow_submission_holds_up_no_other_and_an_upload_deleted_meanwhile_is_refused(dirs, monkeypatch):
    checked, go_on = threading.Event(), threading.Event()

    def slow(body, *args):  # the inputs of a score job take long to check (a slow disk, a large shard)
        prepared = prepare_job(body, *args)
        if body.kind == "score":
            checked.set()
            go_on.wait(30)
        return prepared

    monkeypatch.setattr(jobs_router, "prepare_job", slow)
    with thread_server(create_app(_settings(dirs), scorer=FakeScorer())) as base:
        client = httpx.Client(base_url=base, headers=AUTH, timeout=10)
        up = client.post("/v1/uploads", params={"filename": "u.parquet"}, headers=RAW,
                         content=_parquet_bytes(pa.table({"text": ["one", "two", "three"]}))).json()
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(httpx.post, f"{base}/v1/jobs", json={"kind": "score", "inputs": [up["id"]]},
                               headers=AUTH, timeout=30)
            assert checked.wait(10)
            try:
                # neither another submission nor the upload's deletion waits for the slow one
                assert client.post("/v1/jobs", json={"inputs": ["corpus.parquet"]}).status_code == 202
                assert client.delete(f"/v1/uploads/{up['id']}").status_code == 204
            finally:
                go_on.set()
            err = _error(held.result(), 404, "path_error")
        assert err["message"] == f"{up['id']}/u.parquet: the upload was deleted while the job was being submitted"
        assert [j["kind"] for j in client.get("/v1/jobs").json()["jobs"]] == ["clean"]  # the score job never queued


def test_oversized_upload_is_413_and_leaves_nothing(server, dirs):
    client, out = server, dirs[1]
    noise = np.random.default_rng(0).integers(0, 2**63, 2000)
    big = _parquet_bytes(pa.table({"text": [f"row {i} {n:x} {n * 7:x}" for i, n in enumerate(noise.tolist())]}))
    assert len(big) > 64 << 10
    _error(client.post("/v1/uploads", params={"filename": "big.parquet"}, content=big, headers=RAW),
           413, "body_too_large")  # declared Content-Length: refused before reading

    def chunks():  # no Content-Length: refused while streaming to disk
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    try:
        r = client.post("/v1/uploads", params={"filename": "big.parquet"}, content=chunks(), headers=RAW)
        _error(r, 413, "too_large")
    except httpx.WriteError:  # the server may close before the client finished sending: also a refusal
        pass
    _nothing_stored(out)


@pytest.mark.parametrize(
    ("filename", "code"),
    [("../escape.parquet", "bad_filename"), ("sub/dir.parquet", "bad_filename"), ("..\\win.parquet", "bad_filename"),
     (".hidden.parquet", "bad_filename"), ("/etc/cron.d/x.parquet", "bad_filename"), ("a\x00b.parquet", "bad_filename"),
     ("..", "bad_filename"), ("table.csv", "unsupported_format"), ("noext", "unsupported_format")],
)
def test_bad_file_names_are_refused(server, dirs, filename, code):
    body = _parquet_bytes(pa.table({"text": ["fine"]}))
    _error(server.post("/v1/uploads", params={"filename": filename}, content=body, headers=RAW), 422, code)
    _nothing_stored(dirs[1])


def test_corrupt_or_unusable_files_are_refused(server, dirs):
    client, out = server, dirs[1]
    good = _parquet_bytes(pa.table({"text": [f"doc {i}" for i in range(100)]}))
    for name, body in (("junk.parquet", b"PAR1 this is not parquet at all"), ("cut.parquet", good[: len(good) // 2]),
                       ("lines.jsonl", b"not json\nstill not\n"), ("fake.jsonl.gz", b"not gzip"),
                       ("other.parquet", _parquet_bytes(pa.table({"body": ["no text column"]})))):
        err = _error(client.post("/v1/uploads", params={"filename": name}, content=body, headers=RAW), 422,
                     "invalid_shard")
        assert name in err["message"] and str(out) not in err["message"], err  # names the file, not server paths
    _error(client.post("/v1/uploads", params={"filename": "e.parquet"}, content=b"", headers=RAW), 422, "empty_upload")
    _error(client.post("/v1/uploads", params={"filename": "f.parquet"}, files={"file": ("f.parquet", good)}),
           415, "unsupported_media_type")
    _error(client.post("/v1/uploads", content=good, headers=RAW), 422, "invalid_request")  # no filename
    _nothing_stored(out)
    ok = client.post("/v1/uploads", params={"filename": "other.parquet", "text_column": "body"},
                     content=_parquet_bytes(pa.table({"body": ["a text"]})), headers=RAW)
    assert ok.status_code == 201, ok.text  # checked against the column the client names


def test_uploads_need_the_token_and_stay_confined(server, dirs):
    base = server.base_url
    body = _parquet_bytes(pa.table({"text": ["fine"]}))
    _error(httpx.post(f"{base}/v1/uploads", params={"filename": "a.parquet"}, content=body), 401, "unauthorized")
    _error(httpx.get(f"{base}/v1/uploads"), 401, "unauthorized")
    _error(httpx.delete(f"{base}/v1/uploads/{'0' * 32}"), 401, "unauthorized")
    # the uploads root is an input root like the data roots: nothing beside it is reachable through it
    _error(server.post("/v1/jobs", json={"inputs": ["../jobs.sqlite3"]}), 403, "path_refused")
    _error(server.post("/v1/jobs", json={"inputs": ["../uploads.partial"]}), 403, "path_refused")


def _risk_request(**risk):
    return {"kind": "risk", "inputs": ["corpus.parquet"],
            "risk": {"detector_reference": ["reference.parquet"], "embeddings": False, "bootstrap": 200, "seed": 1,
                     "sample": 500, **risk}}


def test_risk_job_from_submission_to_report(server, dirs):
    client, out = server, dirs[1]
    r = client.post("/v1/jobs", json=_risk_request(target_generations=5))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "risk" and job["risk"]["detector_reference"] == ["reference.parquet"]  # no server paths
    assert job["risk"]["target_generations"] == 5
    done = wait_job(client, job["id"], timeout=180)
    assert done["state"] == "succeeded", done
    counts = done["counts"]
    assert counts["rows"] == 84 and counts["grade"] in (*"ABCDE", None)  # None: withheld
    assert 0 <= counts["integrity"] <= 100
    assert counts["machine_fraction_low"] <= 20 / 84 <= counts["machine_fraction_high"]  # true share in the CI
    assert counts["duplicate_rate"] == pytest.approx(4 / 84)
    report = client.get(f"/v1/jobs/{job['id']}/report").json()
    written = json.loads((out / job["id"] / "risk.json").read_text())
    assert report["corpus"]["shards"] == ["corpus.parquet"] and str(dirs[0]) not in json.dumps(report)  # relative
    assert report["detector"]["reference"] == "labelled shards: reference.parquet"
    assert report == written  # the job wrote it so: the raw download shows no server path either
    assert report["machine_fraction"]["n_human_reference"] == 30 and report["corpus"]["rows"] == 84
    html = client.get(f"/v1/jobs/{job['id']}/report", headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html") and "Collapse-risk report" in html.text
    assert "labelled shards: reference.parquet" in html.text
    for file in client.get(f"/v1/jobs/{job['id']}/outputs").json()["files"]:  # risk.json, risk.html
        body = client.get(file["url"]).text
        assert str(dirs[0].parent) not in body and str(dirs[0].parent.resolve()) not in body, file["path"]


def test_risk_job_on_an_uploaded_corpus_too_small_is_refused_at_submission(server, dirs):
    client = server
    rng = np.random.default_rng(3)
    body = _parquet_bytes(pa.table({"text": [_human(rng, i) for i in range(20)]}))
    up = client.post("/v1/uploads", params={"filename": "small.parquet"}, content=body, headers=RAW).json()
    # 20 records: refused before a job exists (nothing is scored), as `hygiene risk` refuses before loading a model
    error = _error(client.post("/v1/jobs", json={**_risk_request(), "inputs": [up["id"]]}), 422)
    assert "too small" in error["message"] and "at least 50" in error["message"], error


def test_risk_job_options_are_checked_at_submission(server, dirs):
    client = server
    _error(client.post("/v1/jobs", json={**_risk_request(), "kind": "clean"}), 422, "invalid_request")
    _error(client.post("/v1/jobs", json=_risk_request(detector_reference=["../../etc/passwd"])), 403, "path_refused")
    _error(client.post("/v1/jobs", json=_risk_request(detector_reference=["missing.parquet"])), 404, "path_error")
    _error(client.post("/v1/jobs", json=_risk_request(diversity_reference=["no_text.parquet"])), 422, "invalid_job")
    _error(client.post("/v1/jobs", json=_risk_request(sample=0)), 422, "invalid_request")
    no_ref = {"kind": "risk", "inputs": ["corpus.parquet"], "config": {"detector": {"max_tokens": 64}}}
    err = _error(client.post("/v1/jobs", json=no_ref), 422, "invalid_job")  # the shipped reference cannot apply
    assert "`detector_reference`" in err["message"]  # the REST option that fixes it
    assert client.get("/v1/jobs").json()["jobs"] == []


def _crashed_risk_job(dirs):
    """(settings, job id, the open store) of a risk job left `running`, as a killed server process leaves it."""
    data, out = dirs
    settings = _settings(dirs)
    store = JobStore(settings.store_path)
    options = {**_risk_request()["risk"], "detector_reference": [str(data / "reference.parquet")]}
    job_id = store.create("risk", [str(data / "corpus.parquet")], CleanConfig.model_validate(settings.job.model_dump()),
                          False, out, options)
    assert store.claim_next().id == job_id
    return settings, job_id, store


def test_unfinished_risk_job_runs_again_after_a_restart(dirs):
    """A risk job a crashed server left `running` is queued again at start-up and run from the start."""
    data, out = dirs
    settings, job_id, store = _crashed_risk_job(dirs)
    (out / job_id).mkdir(parents=True)
    (out / job_id / "risk.json").write_text("{}")  # a half-written report (no risk.html) is not a result
    store.close()
    with thread_server(create_app(settings, scorer=FakeScorer())) as base:
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
            done = wait_job(client, job_id, timeout=180)
    assert done["state"] == "succeeded" and done["attempts"] == 2, done
    assert json.loads((out / job_id / "risk.json").read_text())["corpus"]["rows"] == 84
    assert (out / job_id / "risk.html").exists()


def test_a_reference_swapped_for_a_link_out_before_a_restart_is_not_read(dirs, tmp_path):
    """Paths are checked again when the worker takes the job, not only at submission: here a risk job left
    `running` by a crash, whose reference became a link out of the data roots before the restart."""
    data, out = dirs
    settings, job_id, store = _crashed_risk_job(dirs)
    store.close()
    secret = tmp_path / "outside.parquet"
    (data / "reference.parquet").rename(secret)
    (data / "reference.parquet").symlink_to(secret)
    with thread_server(create_app(settings, scorer=FakeScorer())) as base:
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
            done = wait_job(client, job_id)
    assert done["state"] == "failed", done
    assert "reference.parquet now leads outside the configured data roots" in done["error"], done["error"]
    assert not (out / job_id / "risk.json").exists()
