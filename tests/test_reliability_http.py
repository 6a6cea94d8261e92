"""Issue 11 over real HTTP (uvicorn on loopback, the test scorer injected): hostile shards finish as jobs,
settings that cannot run are refused at submission, Host and upload content types are checked, damaged
uploads are refused, and job records show paths relative to their root."""

from __future__ import annotations

import gzip
import io
import json

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_support import TOKEN, FakeScorer, thread_server, wait_job
from test_service_uploads import AUTH, RAW, _error, _human, _machine

from service import create_app, load_settings


@pytest.fixture()
def data(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    reference = [_human(rng, i) for i in range(30)] + [_machine(rng, i) for i in range(30)]
    pq.write_table(pa.table({"text": reference, "label": [0] * 30 + [1] * 30}), data / "reference.parquet")
    pq.write_table(pa.table({"text": [_human(rng, i) for i in range(20)]}), data / "sub" / "a.parquet")
    return data


def _server(data, out, **service):
    settings = load_settings(env={}, service={"output_root": str(out), "data_roots": [str(data)], "token": TOKEN,
                                              **service}, job={"threshold": -3.0, "batch_rows": 16})
    return settings


@pytest.fixture()
def client(data, tmp_path):
    with thread_server(create_app(_server(data, tmp_path / "jobs"), scorer=FakeScorer())) as base:
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as c:
            yield c


def _jsonl(records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def test_item2_upload_with_a_lone_surrogate_makes_jobs_that_succeed(client):
    rng = np.random.default_rng(1)
    lines = _jsonl({"text": _human(rng, i)} for i in range(70)) + b'{"text": "a \\ud800 b"}\n'
    up = client.post("/v1/uploads", params={"filename": "s.jsonl"}, content=lines, headers=RAW)
    assert up.status_code == 201 and up.json()["rows"] == 71, up.text
    clean = wait_job(client, client.post("/v1/jobs", json={"inputs": [up.json()["id"]]}).json()["id"])
    assert clean["state"] == "succeeded" and clean["counts"]["quarantined"] == 1, clean
    risk = client.post("/v1/jobs", json={"kind": "risk", "inputs": [up.json()["id"]], "risk": {
        "detector_reference": ["reference.parquet"], "embeddings": False, "bootstrap": 100}})
    done = wait_job(client, risk.json()["id"], timeout=120)
    assert done["state"] == "succeeded" and done["counts"]["quarantined"] == 1, done


def test_items_3_4_type_changes_and_empty_shards_finish_as_jobs(client, data):
    (data / "types.jsonl").write_bytes(_jsonl({"text": f"document {i}", "meta": 1 if i < 5 else "s"}
                                              for i in range(9)))
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), data / "empty.parquet")
    job = client.post("/v1/jobs", json={"inputs": ["types.jsonl", "empty.parquet"], "config": {"batch_rows": 5}})
    done = wait_job(client, job.json()["id"])
    assert done["state"] == "succeeded" and done["counts"]["rows"] == 9, done
    manifest = client.get(f"/v1/jobs/{done['id']}/report").json()
    assert manifest["inputs"][0]["widened_columns"] == {"meta": ["integer", "string"]}
    assert manifest["inputs"][1]["rows"] == 0


def test_item5_output_root_inside_the_data_root_is_never_read_back(data):
    with thread_server(create_app(_server(data, data / "jobs"), scorer=FakeScorer())) as base:
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
            jobs = [wait_job(client, client.post("/v1/jobs", json={"inputs": ["."]}).json()["id"]) for _ in range(2)]
            assert [j["state"] for j in jobs] == ["succeeded", "succeeded"], jobs
            assert jobs[0]["inputs"] == jobs[1]["inputs"] == ["reference.parquet", "sub/a.parquet"]
            assert jobs[0]["counts"] == jobs[1]["counts"]


def test_item6_settings_that_cannot_run_are_refused_at_submission(client):
    for config, field in (({"batch_rows": 1e20}, "batch_rows"), ({"detector": {"batch_size": 10**9}}, "batch_size"),
                          ({"detector": {"batch_tokens": 0}}, "batch_tokens"), ({"dedup": {"seed": 2**40}}, "seed"),
                          ({"threshold": float("nan")}, "threshold")):
        r = client.post("/v1/jobs", content=json.dumps({"inputs": ["sub/a.parquet"], "config": config}),
                        headers={"content-type": "application/json"})
        err = _error(r, 422, "invalid_request")
        assert field in err["message"], err
    assert client.get("/v1/jobs").json()["jobs"] == []  # nothing was queued


def test_json_bodies_must_be_declared_json(client):
    """A page may POST cross-origin without a preflight only without a JSON content type: such bodies are refused."""
    body = json.dumps({"inputs": ["sub/a.parquet"]})
    for headers in ({}, {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}):
        _error(client.post("/v1/jobs", content=body, headers=headers), 415, "unsupported_media_type")
        _error(client.post("/v1/score", content='{"texts": ["a"]}', headers=headers), 415, "unsupported_media_type")
    assert client.get("/v1/jobs").json()["jobs"] == []
    assert client.post("/v1/jobs", content=body, headers={"content-type": "application/json; charset=utf-8"}
                       ).status_code == 202


def test_host_header_must_name_this_server(client, data, tmp_path):
    evil = client.get("/healthz", headers={"host": "rebound.example"})
    assert _error(evil, 400, "bad_host")
    assert client.get("/v1/jobs", headers={"host": "localhost:8000"}).status_code == 200
    assert client.get("/v1/jobs", headers={"host": "[::1]:8000"}).status_code == 200
    assert client.post("/v1/jobs", json={"inputs": ["sub/a.parquet"]}, headers={"host": "evil:80"}).status_code == 400
    assert client.get("/v1/jobs").json()["jobs"] == []
    settings = _server(data, tmp_path / "jobs2", allowed_hosts=["hygiene.internal"])
    with thread_server(create_app(settings, scorer=FakeScorer())) as base:
        assert httpx.get(f"{base}/healthz", headers={"host": "hygiene.internal:443"}).status_code == 200
        assert httpx.get(f"{base}/healthz").status_code == 400  # 127.0.0.1 is no longer a name it answers to
    assert _server(data, tmp_path, host="0.0.0.0").host_names is None  # off loopback a token guards instead
    assert _server(data, tmp_path, allowed_hosts=["*"]).host_names is None


def test_uploads_need_a_file_content_type(client):
    body = _jsonl([{"text": "one document"}])
    for headers in ({}, {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"},
                    {"content-type": "multipart/form-data; boundary=x"}):
        r = client.post("/v1/uploads", params={"filename": "a.jsonl"}, content=body, headers=headers)
        assert "application/octet-stream" in _error(r, 415, "unsupported_media_type")["message"]
    ok = client.post("/v1/uploads", params={"filename": "a.jsonl"}, content=body,
                     headers={"content-type": "application/x-ndjson; charset=utf-8"})
    assert ok.status_code == 201, ok.text


def test_damaged_uploads_are_refused(client):
    sink = io.BytesIO()
    pq.write_table(pa.table({"text": [f"document {i} of many words" for i in range(30)]}), sink, row_group_size=10,
                   write_page_checksum=True)
    page = bytearray(sink.getvalue())
    chunk = pq.ParquetFile(io.BytesIO(bytes(page))).metadata.row_group(1).column(0)
    page[(chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size - 3] ^= 0xFF
    err = _error(client.post("/v1/uploads", params={"filename": "p.parquet"}, content=bytes(page), headers=RAW),
                 422, "damaged_shard")
    assert "row group 1" in err["message"]
    cut = gzip.compress(_jsonl({"text": f"document {i}"} for i in range(500)))
    err = _error(client.post("/v1/uploads", params={"filename": "c.jsonl.gz"}, content=cut[: len(cut) // 2],
                             headers=RAW), 422, "damaged_shard")
    assert "cut short" in err["message"]
    assert client.get("/v1/uploads").json()["uploads"] == []


def test_job_records_and_errors_show_paths_relative_to_their_root(data, tmp_path):
    rng = np.random.default_rng(2)
    pq.write_table(pa.table({"text": [_human(rng, i) for i in range(64)]}), data / "slow.parquet")
    pq.write_table(pa.table({"text": ["doomed"]}), data / "sub" / "victim.parquet")
    settings = _server(data, tmp_path / "jobs")
    with thread_server(create_app(settings, scorer=FakeScorer(delay_s=0.3))) as base:
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
            first = client.post("/v1/jobs", json={"inputs": ["slow.parquet"]}).json()
            second = client.post("/v1/jobs", json={"inputs": [str(data / "sub" / "victim.parquet")]}).json()
            assert second["inputs"] == ["sub/victim.parquet"]  # given absolute, shown relative to its root
            (data / "sub" / "victim.parquet").unlink()  # gone before the job runs
            failed = wait_job(client, second["id"], timeout=120)
            assert wait_job(client, first["id"])["state"] == "succeeded"
            assert failed["state"] == "failed" and "sub/victim.parquet" in failed["error"], failed
            listed = client.get("/v1/jobs").text
            assert str(data) not in listed and str(tmp_path) not in listed and str(data) not in failed["error"]
            report = client.get(f"/v1/jobs/{first['id']}/report")
            assert report.json()["inputs"][0]["path"] == "slow.parquet" and str(tmp_path) not in report.text
