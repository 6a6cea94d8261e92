"""The web console in a real browser: Debian's chromium driven by Playwright, against `hygiene serve` (the
real command, the real offline scorer LM with a 32-token window) in its own process on loopback.

One walk through the console as a person would use it: log in with the token, upload a shard through
the form, submit a clean job over it and a shard under the data root, watch the job page refresh itself
until the job ends, open its HTML report (the login cookie must let the browser read it), download an
output file, delete the job. Screenshots of every page land in $CONSOLE_SCREENSHOTS when it is set.

About 30-45 s, most of it loading the model in the server process: the one end-to-end test of the
console, kept in the default suite because it is the acceptance test of the console (issue 14).
Playwright is only the driver here; it never downloads a browser (`playwright install` is not used).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_support import TOKEN, free_port, start_process_server, stop, wait_ready

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the driver only)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (installed by .ci/run)")


def _texts(prefix: str, n: int) -> list[str]:
    return [f"{prefix} {i}: the river ran past the mill while the town slept and the bells rang twice."
            for i in range(n)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("console")
    data = root / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": _texts("Shard", 8) + _texts("Shard", 2)}), data / "part-0001.parquet")
    pq.write_table(pa.table({"text": _texts("Uploaded", 6)}), root / "mine.parquet")
    port = free_port()
    proc = start_process_server(["--data-root", str(data), "--output-root", str(root / "jobs"), "--token", TOKEN,
                                 "--max-tokens", "32", "--threshold", "-3.0", "--log-level", "warning"],
                                port, root / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc=proc)
        yield base, root
    finally:
        stop(proc)


@pytest.fixture()
def page(tmp_path):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        yield context.new_page()
        browser.close()


def _shot(page, name: str) -> None:
    where = os.environ.get("CONSOLE_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"), full_page=True)


def test_a_job_is_submitted_watched_reported_downloaded_and_deleted_in_the_browser(server, page):
    base, root = server
    page.goto(base + "/")
    assert "/console/login" in page.url  # a token is set: the console asks for it
    _shot(page, "1-login")
    page.fill("#token", "not the token, but long")
    page.click("button:has-text('Log in')")
    assert page.locator("[role=alert]").inner_text() == "Wrong token."
    page.fill("#token", TOKEN)
    page.click("button:has-text('Log in')")
    page.wait_for_url(base + "/")
    assert "No jobs" in page.content()

    page.click("h1 >> text=New job")
    page.set_input_files("#file", str(root / "mine.parquet"))
    with page.expect_navigation():
        page.click("button:has-text('Upload')")
    assert "Uploaded mine.parquet: 6 rows" in page.locator(".flash").inner_text()
    page.check("input[value$='part-0001.parquet']")  # the upload itself is already selected
    _shot(page, "2-new-job")
    with page.expect_navigation():
        page.click("button:has-text('Submit job')")
    assert "/console/jobs/" in page.url
    job_id = page.url.rsplit("/", 1)[1]
    first = page.content()
    _shot(page, "3-job-live")

    page.wait_for_selector("text=Open report", timeout=120_000)  # the page refreshes itself; never reloaded here
    if "Open report" not in first:  # it was live when first shown: the refresh is what brought the result
        assert 'http-equiv="refresh"' in first
    assert page.locator(".state").inner_text() == "succeeded"
    _shot(page, "4-job-done")
    job = httpx.get(f"{base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    counts = job["counts"]
    assert counts["rows"] == 16 and counts["kept"] + counts["removed"] + counts["quarantined"] == 16
    assert counts["removed_by_reason"]["exact_duplicate"] == 2

    # removed/ always has this shard's rows (its two exact copies); kept/ may have none, and then has no file
    with page.expect_download() as download:
        page.click("a:has-text('removed/part-0001.parquet')")
    removed = pq.read_table(io.BytesIO(Path(download.value.path()).read_bytes()))
    shard_removed = next(e for e in _manifest(base, job_id)["inputs"] if e["name"] == "part-0001")["removed"]
    assert removed.num_rows == shard_removed > 0

    page.click("text=Open report")
    page.wait_for_load_state()
    assert page.url.endswith(f"/v1/jobs/{job_id}/report?format=html")
    assert "clean report" in page.locator("h1").inner_text().lower()  # the cookie opened the report
    _shot(page, "5-report")

    page.goto(base + "/")
    row = page.locator(f"tr:has(a:has-text('{job_id[:8]}'))")
    assert "succeeded" in row.inner_text() and "16 rows" in row.inner_text()
    _shot(page, "6-jobs")
    page.goto(f"{base}/console/jobs/{job_id}")
    with page.expect_navigation():
        page.click("button:has-text('Delete job and outputs')")
    assert f"Deleted job {job_id[:8]}" in page.locator(".flash").inner_text()
    assert not (root / "jobs" / job_id).exists()


def _manifest(base: str, job_id: str) -> dict:
    return httpx.get(f"{base}/v1/jobs/{job_id}/report", headers={"Authorization": f"Bearer {TOKEN}"}).json()
