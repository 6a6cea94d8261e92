"""Every endpoint of the service over a real uvicorn server on loopback, with a test scorer injected.

The scorer here only decides how fast and what numbers come back; the model itself is exercised in
test_service_model.py. What is tested here is the HTTP contract: auth, limits, paths, errors, jobs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_support import TOKEN, FakeScorer, thread_server, wait_job, wait_ready

import service.state
from detectors.reference import default_reference
from hygiene.config import ConfigError
from hygiene_cli.main import main as hygiene_main
from service import create_app, load_settings

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _texts(n: int, start: int = 0) -> list[str]:
    return [f"Document number {i} says something {'long ' * (i % 5)}here." for i in range(start, start + n)]


@pytest.fixture()
def roots(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "sub").mkdir(parents=True)
    outside.mkdir()
    texts = _texts(40)
    pq.write_table(pa.table({"text": texts[:20], "id": [f"a{i}" for i in range(20)]}), data / "a.parquet")
    pq.write_table(pa.table({"text": texts[20:] + texts[:2]}), data / "sub" / "b.parquet")  # 2 exact copies
    pq.write_table(pa.table({"text": ["secret"]}), outside / "secret.parquet")
    (data / "escape.parquet").symlink_to(outside / "secret.parquet")
    (data / "escape_dir").symlink_to(outside)
    return data, outside, tmp_path / "jobs"


def _settings(roots, **service):
    data, _, out = roots
    base = {"output_root": str(out), "data_roots": [str(data)], "token": TOKEN, "max_body_bytes": 1 << 20,
            "max_texts": 64, "max_chars": 20_000, "batch_wait_ms": 20}
    # threshold between the test scorer's values; no calibration needed for it
    return load_settings(env={}, service={**base, **service}, job={"threshold": -3.0, "batch_rows": 8})


@pytest.fixture()
def server(roots):
    scorer = FakeScorer()
    with thread_server(create_app(_settings(roots), scorer=scorer)) as base:
        with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
            yield client, scorer


def _error(response, status, code=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    assert "Traceback" not in response.text
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def test_health_ready_openapi_docs(server):
    client, _ = server
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["limits"]["max_texts"] == 64
    spec = client.get("/openapi.json").json()
    for path in ("/v1/score", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/report", "/metrics", "/v1/uploads",
                 "/v1/uploads/{upload_id}"):
        assert path in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', docs.text) if not a.startswith("data:")]
    assert assets and all(a.startswith("/") for a in assets), assets  # served here, no CDN
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_score_returns_decisions_against_the_threshold(server):
    client, _ = server
    texts = ["abcdefg", "ab", "x", "hello there"]  # test scores: -0.5, -2.5, NaN, -4.5
    r = client.post("/v1/score", json={"texts": texts})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["detector"]["name"] == "fake-length" and body["detector"]["threshold"] == -3.0
    assert body["detector"]["threshold_source"] == "config"
    got = [(x["score"], x["decision"]) for x in body["results"]]
    assert got == [(-0.5, "machine"), (-2.5, "machine"), (None, "unscored"), (-4.5, "human")]
    # default detector settings: P(machine) from the Platt fit to the shipped reference scores
    platt = default_reference().probability()
    p = [x["probability"] for x in body["results"]]
    assert p[2] is None and p[0] > p[1] > p[3] and all(0 < v < 1 for v in (p[0], p[1], p[3]))
    assert p[1] == pytest.approx(float(platt.predict([-2.5])[0]))


def test_auth_required_when_a_token_is_set(server):
    client, _ = server
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {TOKEN}"}):
        for method, path, body in (("POST", "/v1/score", {"texts": ["a b"]}), ("GET", "/v1/jobs", None),
                                   ("GET", "/metrics", None)):
            r = httpx.request(method, f"{client.base_url}{path}", json=body, headers=headers)
            err = _error(r, 401, "unauthorized")
            assert r.headers["www-authenticate"] == "Bearer", err
    assert httpx.get(f"{client.base_url}/healthz").status_code == 200  # probes stay open


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (json.dumps({"texts": "a string"}).encode(), 422, "invalid_request"),
        (json.dumps({"texts": [1, 2]}).encode(), 422, "invalid_request"),
        (json.dumps({"texts": []}).encode(), 422, "invalid_request"),
        (json.dumps({"text": ["a"]}).encode(), 422, "invalid_request"),
        (json.dumps({"texts": ["fine", "   "]}).encode(), 422, "invalid_request"),
        (json.dumps({"texts": ["a"] * 65}).encode(), 422, "too_many_texts"),
        (json.dumps({"texts": ["a" * 20_001]}).encode(), 422, "text_too_long"),
        (json.dumps({"texts": ["a" * (10 << 20)]}).encode(), 413, "body_too_large"),  # 10 MB text
        (json.dumps([1, 2, 3]).encode(), 422, "invalid_request"),
    ],
)
def test_score_bad_input_is_a_clear_4xx(server, content, status, code):
    client, scorer = server
    r = client.post("/v1/score", content=content, headers={"content-type": "application/json"})
    _error(r, status, code)
    assert scorer.calls == []  # nothing reached the model


def test_chunked_oversized_body_is_refused(server):
    client, _ = server

    def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB without a Content-Length

    _error(client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"}),
           413, "body_too_large")


def test_unknown_routes_methods_and_jobs(server):
    client, _ = server
    _error(client.get("/v1/nothing"), 404)
    _error(client.put("/v1/score", json={}), 405)
    _error(client.get("/v1/jobs/0123abc"), 404, "job_not_found")
    _error(client.delete("/v1/jobs/0123abc"), 404, "job_not_found")
    _error(client.get("/v1/jobs/0123abc/report"), 404, "job_not_found")
    _error(client.get("/v1/jobs", params={"limit": 0}), 422)
    _error(client.get("/v1/jobs", params={"state": "exploded"}), 422)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("../outside/secret.parquet", 403, "path_refused"),
        ("sub/../../outside/secret.parquet", 403, "path_refused"),
        ("escape.parquet", 403, "path_refused"),  # symlink to a file outside
        ("escape_dir/secret.parquet", 403, "path_refused"),  # through a symlinked directory
        ("/etc/passwd", 403, "path_refused"),
        ("missing.parquet", 404, "path_error"),
        ("", 422, "invalid_request"),
    ],
)
def test_job_paths_are_confined_to_the_data_roots(server, roots, path, status, code):
    client, _ = server
    _error(client.post("/v1/jobs", json={"inputs": [path]}), status, code)
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_absolute_outside_path_and_directory_with_escaping_link(server, roots):
    client, _ = server
    data, outside, _ = roots
    _error(client.post("/v1/jobs", json={"inputs": [str(outside / "secret.parquet")]}), 403, "path_refused")
    # a directory input is expanded; the link inside it leads out of the roots
    _error(client.post("/v1/jobs", json={"inputs": [str(data)]}), 403, "path_refused")


def test_a_symlink_loop_is_a_path_error_wherever_a_path_is_given(server, roots):
    client, _ = server
    data, outside, _ = roots
    for where in (data, outside):
        (where / "loopA.parquet").symlink_to("loopB.parquet")
        (where / "loopB.parquet").symlink_to("loopA.parquet")
    for request in ({"inputs": ["loopA.parquet"]}, {"inputs": [str(data / "loopB.parquet")]},
                    {"inputs": ["a.parquet"], "config": {"calibration": "loopA.parquet"}},
                    {"kind": "risk", "inputs": ["a.parquet"], "risk": {"detector_reference": ["loopA.parquet"]}}):
        err = _error(client.post("/v1/jobs", json=request), 422, "path_error")
        assert "symlink loop: loop" in err["message"] and str(data) not in err["message"], err
    # a loop outside the roots is refused as outside: the answer does not tell what lies there
    err = _error(client.post("/v1/jobs", json={"inputs": [str(outside / "loopA.parquet")]}), 403, "path_refused")
    assert "loop" not in err["message"].replace("loopA", "")
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_a_fifo_is_refused_without_opening_it(server, roots):
    client, _ = server
    data = roots[0]
    (data / "fifo").mkdir()
    fifo = data / "fifo" / "f.jsonl"
    os.mkfifo(fifo)
    try:
        for request in ({"inputs": ["fifo/f.jsonl"]}, {"inputs": ["a.parquet"], "config": {"calibration": str(fifo)}},
                        {"kind": "risk", "inputs": ["a.parquet"], "risk": {"detector_reference": ["fifo/f.jsonl"]}}):
            r = client.post("/v1/jobs", json=request, timeout=10)  # opening a FIFO blocks until a writer comes
            err = _error(r, 422, "path_error")
            assert "f.jsonl is not a regular file" in err["message"] and str(data) not in err["message"], err
        assert client.post("/v1/jobs", json={"inputs": ["a.parquet"]}, timeout=10).status_code == 202
    finally:  # a reader stuck opening it (the bug) gets end-of-file, so a failing run still ends
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_job_settings_are_checked_at_submission(server, roots):
    client, _ = server
    _error(client.post("/v1/jobs", json={"inputs": ["a.parquet"], "config": {"detector": {"model": "/tmp/evil"}}}),
           403, "forbidden_setting")
    _error(client.post("/v1/jobs", json={"inputs": ["a.parquet"], "config": {"dedup": {"index": "/tmp/evil.db"}}}),
           403, "forbidden_setting")  # only the server's index (HYGIENE_REDIS_URL), or none
    _error(client.post("/v1/jobs", json={"inputs": ["a.parquet"], "config": {"ray_address": "ray://x:10001"}}),
           403, "forbidden_setting")
    # engine = ray with no cluster address would start a local Ray cluster inside the server
    err = _error(client.post("/v1/jobs", json={"inputs": ["a.parquet"], "config": {"engine": "ray"}}),
                 403, "forbidden_setting")
    assert "engine is fixed by the server (local" in err["message"]
    _error(client.post("/v1/jobs", json={"inputs": ["a.parquet"], "config": {"text_column": "nope"}}),
           422, "invalid_job")
    _error(client.post("/v1/jobs", json={"inputs": ["a.parquet"], "config": {"calibration": "/etc/passwd"}}),
           403, "path_refused")
    _error(client.post("/v1/jobs", json={"inputs": ["a.parquet"], "config": {"batch_rows": 0}}), 422)
    _error(client.post("/v1/jobs", json={"inputs": ["a.parquet"], "kind": "explode"}), 422)
    assert client.get("/v1/jobs").json()["jobs"] == []  # nothing refused was queued


def test_a_server_without_a_detector_runs_dedup_jobs_only(roots):
    data, _, out = roots
    settings = load_settings(env={}, service={"output_root": str(out), "data_roots": [str(data)], "token": TOKEN},
                             job={"detector.kind": "none"})
    with thread_server(create_app(settings)) as base:  # `serve --detector none`: nothing to load
        wait_ready(base)
        client = httpx.Client(base_url=base, headers=AUTH, timeout=30)
        for kind in ("zeroshot", "binoculars", "features"):
            asked = {"inputs": ["a.parquet"], "config": {"detector": {"kind": kind}}}
            err = _error(client.post("/v1/jobs", json=asked), 403, "forbidden_setting")
            assert "no detector" in err["message"] and "deduplication jobs only" in err["message"]
        assert client.get("/v1/jobs").json()["jobs"] == []  # no job that would load a model was queued
        _error(client.post("/v1/score", json={"texts": ["a b"]}), 409, "no_detector")
        r = client.post("/v1/jobs", json={"inputs": ["a.parquet"], "config": {"detector": {"kind": "none"}}})
        assert r.status_code == 202, r.text
        assert wait_job(client, r.json()["id"])["state"] == "succeeded"


def test_a_job_needing_the_model_waits_until_it_is_loaded(roots, monkeypatch):
    loaded = threading.Event()

    def slow_load(settings):  # the detector the server builds at start-up, held until the test lets it go
        loaded.wait(30)
        return FakeScorer()

    monkeypatch.setattr(service.state, "build_detector", slow_load)
    with thread_server(create_app(_settings(roots))) as base:
        client = httpx.Client(base_url=base, headers=AUTH, timeout=30)
        try:
            assert client.get("/readyz").json()["status"] == "loading"
            # the window cannot be checked against a model not loaded yet: not accepted only to fail later
            wide = {"inputs": ["a.parquet"], "config": {"detector": {"max_tokens": 8192}}}
            r = client.post("/v1/jobs", json=wide)
            err = _error(r, 503, "not_ready")
            assert "not loaded yet" in err["message"] and int(r.headers["retry-after"]) >= 1
            _error(client.post("/v1/jobs", json={"inputs": ["a.parquet"]}), 503, "not_ready")
            dedup = client.post("/v1/jobs", json={"inputs": ["a.parquet"], "config": {"detector": {"kind": "none"}}})
            assert dedup.status_code == 202, dedup.text  # needs no model: queued, runs once the worker starts
            assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == [dedup.json()["id"]]
        finally:
            loaded.set()
        wait_ready(base)
        assert wait_job(client, dedup.json()["id"])["state"] == "succeeded"


def test_job_from_submission_to_report(server, roots):
    client, _ = server
    request = {"kind": "clean", "inputs": ["a.parquet", "sub"], "config": {"dedup": {"near": False}}}
    r = client.post("/v1/jobs", json=request)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and len(job["inputs"]) == 2
    assert job["config"]["dedup"]["near"] is False and job["config"]["threshold"] == -3.0  # merged over defaults
    done = wait_job(client, job["id"])
    assert done["state"] == "succeeded", done
    assert done["rows_total"] == done["rows_done"] == 42 and done["stage"] == "write"
    counts = done["counts"]
    assert counts["rows"] == 42 and counts["kept"] + counts["removed"] + counts["quarantined"] == 42
    assert counts["removed_by_reason"]["exact_duplicate"] == 2
    manifest = client.get(f"/v1/jobs/{job['id']}/report").json()
    assert manifest["counts"] == counts and manifest["command"] == "clean"
    html = client.get(f"/v1/jobs/{job['id']}/report", headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html") and "<html" in html.text.lower()
    assert client.get(f"/v1/jobs/{job['id']}/report", params={"format": "html"}).text == html.text
    out = roots[2] / job["id"]
    kept = pq.read_table(out / "kept" / "a.parquet").num_rows + pq.read_table(out / "kept" / "b.parquet").num_rows
    assert kept == counts["kept"]
    listed = client.get("/v1/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert client.get("/v1/jobs", params={"state": "queued"}).json()["jobs"] == []
    metrics = client.get("/metrics").text
    assert 'hygiene_jobs{state="succeeded"} 1.0' in metrics
    assert 'hygiene_jobs_finished_total{state="succeeded"} 1.0' in metrics


def test_cancel_running_and_queued_jobs(roots):
    scorer = FakeScorer(delay_s=0.3)  # 8-row batches: a 20-row shard takes ~1 s
    with thread_server(create_app(_settings(roots), scorer=scorer)) as base:
        client = httpx.Client(base_url=base, headers=AUTH, timeout=30)
        first = client.post("/v1/jobs", json={"inputs": ["a.parquet"]}).json()
        second = client.post("/v1/jobs", json={"inputs": ["a.parquet"], "kind": "score"}).json()
        wait_job(client, first["id"], until=("running",))
        _error(client.get(f"/v1/jobs/{first['id']}/report"), 409, "not_finished")
        assert client.delete(f"/v1/jobs/{second['id']}").json()["state"] == "cancelled"  # queued: at once
        client.delete(f"/v1/jobs/{first['id']}")
        assert wait_job(client, first["id"])["state"] == "cancelled"
        assert not (roots[2] / first["id"] / "manifest.json").exists()
        assert wait_job(client, second["id"])["attempts"] == 0  # never started


def test_an_input_swapped_for_a_link_out_while_queued_is_not_read(roots):
    data, outside, out = roots
    scorer = FakeScorer(delay_s=0.3)  # the first job keeps the worker busy (~1 s) while the second waits
    with thread_server(create_app(_settings(roots), scorer=scorer)) as base:
        client = httpx.Client(base_url=base, headers=AUTH, timeout=30)
        first = client.post("/v1/jobs", json={"inputs": ["a.parquet"]}).json()
        wait_job(client, first["id"], until=("running",))
        second = client.post("/v1/jobs", json={"kind": "score", "inputs": ["sub/b.parquet"]}).json()
        (data / "sub" / "b.parquet").unlink()
        (data / "sub" / "b.parquet").symlink_to(outside / "secret.parquet")
        assert client.get(f"/v1/jobs/{second['id']}").json()["state"] == "queued"  # swapped before it ran
        client.delete(f"/v1/jobs/{first['id']}")  # the worker moves on to the second job
        done = wait_job(client, second["id"])
        assert done["state"] == "failed", done
        assert "sub/b.parquet now leads outside the configured data roots" in done["error"], done["error"]
        assert str(data) not in done["error"]
        assert not (out / second["id"] / "scored").exists()  # nothing of the secret was written


def test_concurrent_requests_share_model_calls(roots):
    scorer = FakeScorer(delay_s=0.05)
    with thread_server(create_app(_settings(roots, max_batch=16), scorer=scorer)) as base:

        async def burst():
            async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as client:
                replies = await asyncio.gather(*(client.post("/v1/score", json={"texts": [t]}) for t in _texts(32)))
                return [r.json()["results"][0]["score"] for r in replies]

        scores = asyncio.run(burst())
        assert scores == [-(len(t) % 7) - 0.5 for t in _texts(32)]  # every reply got its own text's score
        assert sum(scorer.calls) == 32 and max(scorer.calls) > 1 and max(scorer.calls) <= 16
        metrics = httpx.get(f"{base}/metrics", headers=AUTH).text
        assert "hygiene_docs_scored_total 32.0" in metrics and "hygiene_score_batch_size_count" in metrics


def test_batching_off_is_one_call_per_request(roots):
    scorer = FakeScorer(delay_s=0.02)
    with thread_server(create_app(_settings(roots, batching=False), scorer=scorer)) as base:

        async def burst():
            async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as client:
                await asyncio.gather(*(client.post("/v1/score", json={"texts": [t]}) for t in _texts(12)))

        asyncio.run(burst())
        assert scorer.calls == [1] * 12


def test_full_queue_answers_429_with_retry_after(roots):
    scorer = FakeScorer(delay_s=0.5)
    with thread_server(create_app(_settings(roots, queue_size=64, max_texts=64), scorer=scorer)) as base:

        async def burst():
            async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as client:
                return await asyncio.gather(*(client.post("/v1/score", json={"texts": _texts(40)}) for _ in range(4)))

        replies = asyncio.run(burst())
        statuses = sorted(r.status_code for r in replies)
        assert 200 in statuses and 429 in statuses, statuses
        busy = next(r for r in replies if r.status_code == 429)
        _error(busy, 429, "busy")
        assert int(busy.headers["retry-after"]) >= 1


def test_settings_precedence_file_env_flags(tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text('threshold = -2.5\n[detector]\nmax_tokens = 64\n[service]\nport = 9001\nmax_texts = 10\n')
    s = load_settings(config, env={"HYGIENE_PORT": "9002", "HYGIENE_DATA_ROOTS": f"/a{os.pathsep}/b"},
                      service={"max_texts": 12}, job={"detector.batch_size": 4})
    assert (s.port, s.max_texts, [str(p) for p in s.data_roots]) == (9002, 12, ["/a", "/b"])
    assert (s.job.threshold, s.job.detector.max_tokens, s.job.detector.batch_size) == (-2.5, 64, 4)
    with pytest.raises(ConfigError, match="service.port"):
        load_settings(env={"HYGIENE_PORT": "not-a-port"})
    with pytest.raises(ConfigError, match="token"):
        load_settings(env={"HYGIENE_TOKEN": "short"})


@pytest.mark.parametrize("token", [TOKEN + " ", " " + TOKEN, TOKEN + "\n", " " * 20, "\t" * 16])
def test_a_token_that_could_never_match_is_refused_at_start_up(token):
    # a presented token is stripped: with spaces around it the server could never be used, and a blank one
    # would pass the "token required off loopback" check while protecting nothing
    for source in ({"env": {"HYGIENE_TOKEN": token}}, {"env": {}, "service": {"token": token}}):  # env, --token
        with pytest.raises(ConfigError, match="service.token: .*blank or starts or ends with whitespace") as refused:
            load_settings(**source)
        assert TOKEN not in str(refused.value)  # the token is not echoed


def test_serve_refuses_a_public_address_without_a_token(capsys, monkeypatch):
    monkeypatch.delenv("HYGIENE_TOKEN", raising=False)
    assert hygiene_main(["serve", "--host", "0.0.0.0", "--threshold", "-3"]) == 1
    assert "without a bearer token" in capsys.readouterr().err
