"""The web console's contract over a real uvicorn server on loopback (no browser: see
test_console_browser.py): login and its cookie, what the cookie may and may not do, refusal of
cross-site form posts, form errors as pages, upload size limits."""

from __future__ import annotations

import io

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_support import TOKEN, FakeScorer, thread_server, wait_job, wait_ready

from service import create_app, load_settings
from service.session import SESSION_COOKIE


def _parquet(rows: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"text": [f"row {i} of the upload" for i in range(rows)]}), sink)
    return sink.getvalue()


@pytest.fixture()
def console(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": [f"Document {i} {'x ' * (i % 4)}" for i in range(12)]}), data / "a.parquet")
    settings = load_settings(env={}, service={"output_root": str(tmp_path / "jobs"), "data_roots": [str(data)],
                                              "token": TOKEN, "max_shard_bytes": 4096},
                             job={"threshold": -3.0, "dedup.near": False})
    with thread_server(create_app(settings, scorer=FakeScorer())) as base:
        yield base


def _login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    r = client.post("/console/login", data={"token": TOKEN, "next": "/console/new"})
    assert r.status_code == 303 and r.headers["location"] == "/console/new"
    return client


def test_pages_need_a_login_and_the_cookie_is_strict(console):
    anonymous = httpx.Client(base_url=console, timeout=30)
    for path in ("/", "/console/new", "/console/jobs/abc"):
        r = anonymous.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next="), path
    assert anonymous.get("/console/login").status_code == 200
    wrong = anonymous.post("/console/login", data={"token": "not-the-token-at-all", "next": "/"})
    assert wrong.status_code == 401 and "Wrong token" in wrong.text and SESSION_COOKIE not in wrong.cookies
    r = anonymous.post("/console/login", data={"token": TOKEN, "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert TOKEN.lower() not in cookie  # the cookie is not the bearer token
    client = _login(console)
    page = client.get("/")
    assert page.status_code == 200 and "No jobs" in page.text and "<script" not in page.text.lower()
    assert client.post("/console/logout").status_code == 303
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/").status_code == 303


def test_the_cookie_reads_the_api_but_cannot_change_it(console):
    client = _login(console)
    assert client.get("/v1/jobs").status_code == 200  # GET: reports, downloads, listings
    assert client.get("/metrics").status_code == 200
    r = client.post("/v1/jobs", json={"inputs": ["a.parquet"]})
    assert r.status_code == 401  # state changes over the API still need the bearer header
    assert client.post("/v1/uploads", params={"filename": "u.parquet"}, content=_parquet(3)).status_code == 401


def test_cross_site_form_posts_are_refused(console):
    client = _login(console)
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = client.post("/console/jobs", data={"kind": "clean", "inputs": ["a.parquet"]}, headers=headers)
        assert r.status_code == 403 and "not sent from this console" in r.text
    same = client.post("/console/jobs", data={"kind": "clean", "inputs": ["a.parquet"]},
                       headers={"Origin": console, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303
    jobs = client.get("/v1/jobs").json()["jobs"]
    assert len(jobs) == 1  # only the same-origin post made a job
    wait_job(httpx.Client(base_url=console, headers={"Authorization": f"Bearer {TOKEN}"}), jobs[0]["id"])


def test_submit_watch_and_delete_through_the_pages(console, tmp_path):
    client = _login(console)
    r = client.post("/console/jobs", data={"kind": "clean", "paths": "a.parquet", "config": '{"batch_rows": 4}'})
    assert r.status_code == 303 and r.headers["location"].startswith("/console/jobs/")
    job_id = r.headers["location"].rsplit("/", 1)[1]
    job = wait_job(httpx.Client(base_url=console, headers={"Authorization": f"Bearer {TOKEN}"}), job_id)
    assert job["state"] == "succeeded" and job["config"]["batch_rows"] == 4
    page = client.get(r.headers["location"]).text
    assert f"/v1/jobs/{job_id}/report?format=html" in page and "kept/a.parquet" in page
    assert 'http-equiv="refresh"' not in page  # finished: no more refreshing
    for html in (page, client.get("/").text):  # the server's directories are not shown, as in the API
        assert str(tmp_path) not in html and str(tmp_path.resolve()) not in html
    assert client.get(f"/v1/jobs/{job_id}/report", params={"format": "html"}).status_code == 200
    gone = client.post(f"/console/jobs/{job_id}/delete")
    assert gone.status_code == 303 and gone.headers["location"] == f"/?deleted={job_id}"
    assert "Deleted job" in client.get(gone.headers["location"]).text
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404


def test_the_new_job_form_names_shards_as_a_client_does(console, tmp_path):
    """The shard list's values are paths relative to the data root (what a client types in `inputs`), the
    page shows no server directory, and a link that leads out of the roots (always refused) is not listed."""
    data = tmp_path / "data"
    (data / "sub").mkdir()
    pq.write_table(pa.table({"text": [f"Line {i} {'y ' * (i % 3)}" for i in range(8)]}), data / "sub" / "b.parquet")
    pq.write_table(pa.table({"text": ["outside the roots"]}), tmp_path / "outside.parquet")
    (data / "escape.parquet").symlink_to(tmp_path / "outside.parquet")
    (data / "alias.parquet").symlink_to(data / "a.parquet")  # a link that stays inside is a shard like any
    client = _login(console)
    page = client.get("/console/new").text
    assert str(tmp_path) not in page and str(tmp_path.resolve()) not in page
    assert 'value="a.parquet"' in page and 'value="sub/b.parquet"' in page and 'value="alias.parquet"' in page
    assert "escape.parquet" not in page
    assert "relative to the data root" in page
    r = client.post("/console/jobs", data={"kind": "clean", "inputs": ["sub/b.parquet"]})
    assert r.status_code == 303, r.text  # the listed value is what the job takes
    job = wait_job(httpx.Client(base_url=console, headers={"Authorization": f"Bearer {TOKEN}"}),
                   r.headers["location"].rsplit("/", 1)[1])
    assert job["state"] == "succeeded" and job["inputs"] == ["sub/b.parquet"], job


@pytest.mark.parametrize(("form", "message"), [
    ({"kind": "clean"}, "Choose at least one input"),
    ({"kind": "clean", "paths": "a.parquet", "config": "{not json"}, "Job settings are not valid JSON"),
    ({"kind": "clean", "paths": "a.parquet", "config": '{"batch_rows": 0}'}, "batch_rows"),
    ({"kind": "clean", "paths": "a.parquet", "risk": '{"sample": 10}'}, "only for kind"),
    ({"kind": "clean", "paths": "../../etc/passwd"}, "outside the configured data roots"),
    ({"kind": "clean", "paths": "missing.parquet"}, "not found under the data roots"),
])
def test_form_errors_come_back_as_the_form_with_a_message(console, form, message):
    client = _login(console)
    r = client.post("/console/jobs", data=form)
    assert 400 <= r.status_code < 500 and message in r.text, r.text[:2000]
    assert 'role="alert"' in r.text and form.get("paths", "") in r.text  # what was typed is kept
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_a_symlink_loop_given_in_the_form_comes_back_as_the_form(console, tmp_path):
    data = tmp_path / "data"
    (data / "loopA.parquet").symlink_to("loopB.parquet")
    (data / "loopB.parquet").symlink_to("loopA.parquet")
    client = _login(console)
    for form in ({"kind": "clean", "paths": "loopA.parquet"},  # typed, and ticked in the list of shards
                 {"kind": "clean", "inputs": [str(data / "loopB.parquet")]}):
        r = client.post("/console/jobs", data=form)
        assert r.status_code == 422 and "symlink loop: loop" in r.text and 'role="alert"' in r.text, r.text[:2000]
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_upload_through_the_form(console):
    client = _login(console)
    r = client.post("/console/uploads", files={"file": ("mine.parquet", _parquet(5))})
    assert r.status_code == 303 and r.headers["location"].startswith("/console/new?uploaded=")
    upload_id = r.headers["location"].rsplit("=", 1)[1]
    page = client.get(r.headers["location"]).text
    assert "Uploaded mine.parquet: 5 rows" in page and f'value="{upload_id}" checked' in page
    too_big = client.post("/console/uploads", files={"file": ("big.parquet", b"x" * 100_000)})
    assert too_big.status_code == 413  # its Content-Length said so before anything was read
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.parquet\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n")
    body = head.encode() + b"x" * 100_000 + f"\r\n--{boundary}--\r\n".encode()
    chunked = client.post("/console/uploads", content=(body[i:i + 8192] for i in range(0, len(body), 8192)),
                          headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert chunked.status_code == 413 and "shard-size limit" in chunked.text  # counted while it arrived
    bad = client.post("/console/uploads", files={"file": ("notes.txt", b"hello")})
    assert bad.status_code == 422 and "unsupported shard format" in bad.text
    uploads = client.get("/v1/uploads").json()["uploads"]
    assert [u["id"] for u in uploads] == [upload_id]  # refused uploads left nothing behind
    assert client.post(f"/console/uploads/{upload_id}/delete").status_code == 303
    assert client.get("/v1/uploads").json()["uploads"] == []


def test_the_console_works_on_a_server_without_a_detector(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": ["one text", "another text", "one text"]}), data / "a.parquet")
    settings = load_settings(env={}, service={"output_root": str(tmp_path / "jobs"), "data_roots": [str(data)],
                                              "token": TOKEN}, job={"detector.kind": "none", "dedup.near": False})
    with thread_server(create_app(settings)) as base:  # `serve --detector none`: nothing to load
        wait_ready(base)
        assert "Log in" in httpx.get(f"{base}/console/login").text
        client = _login(base)
        for path in ("/", "/console/new"):
            page = client.get(path)
            assert page.status_code == 200 and "no detector: deduplication jobs only" in page.text, path
        r = client.post("/console/jobs", data={"kind": "clean", "paths": "a.parquet"})
        assert r.status_code == 303, r.text[:2000]
        job = wait_job(httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}),
                       r.headers["location"].rsplit("/", 1)[1])
        assert job["state"] == "succeeded" and job["counts"]["removed_by_reason"]["exact_duplicate"] == 1, job
        page = client.get(r.headers["location"])
        assert page.status_code == 200 and "no detector: deduplication jobs only" in page.text


def test_without_a_token_the_console_is_open(tmp_path):
    settings = load_settings(env={}, service={"output_root": str(tmp_path / "jobs")}, job={"threshold": -3.0})
    with thread_server(create_app(settings, scorer=FakeScorer())) as base:
        r = httpx.get(f"{base}/")
        assert r.status_code == 200 and "Log out" not in r.text
        assert httpx.get(f"{base}/console/login").status_code == 303
        new = httpx.get(f"{base}/console/new").text
        assert "no data roots" in new
        css = httpx.get(f"{base}/console/static/console.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert "/console/new" not in httpx.get(f"{base}/openapi.json").text  # the console is not API


def test_wrong_tokens_are_throttled_per_client(tmp_path):
    settings = load_settings(env={}, service={"output_root": str(tmp_path / "jobs"), "token": TOKEN,
                                              "max_auth_failures": 3}, job={"threshold": -3.0})
    with thread_server(create_app(settings, scorer=FakeScorer())) as base:
        api = httpx.Client(base_url=base, timeout=30)
        assert api.get("/v1/jobs").status_code == 401  # no token: not a guess, not counted
        for _ in range(3):
            assert api.get("/v1/jobs", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
        refused = api.get("/v1/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60  # even the right one
        assert refused.json()["error"]["code"] == "too_many_failed_logins"
        page = api.post("/console/login", data={"token": TOKEN, "next": "/"})
        assert page.status_code == 429 and "Too many attempts" in page.text and "retry-after" in page.headers
