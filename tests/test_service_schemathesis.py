"""schemathesis against the served /openapi.json: generated and mutated requests never get a 5xx.

Bounded by examples per operation and a time limit. Besides the CLI's verdict, the server's own
request metrics are read afterwards: no response with a 5xx status was sent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_support import TOKEN, FakeScorer, thread_server

from service import create_app, load_settings

CLI = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))


@pytest.mark.skipif(not Path(CLI).exists(), reason="schemathesis CLI not installed (pip install schemathesis)")
def test_no_server_errors_under_schemathesis(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": [f"a document about item {i}" for i in range(12)]}), data / "a.parquet")
    settings = load_settings(env={}, service={"output_root": str(tmp_path / "jobs"), "data_roots": [str(data)],
                                              "token": TOKEN, "max_texts": 64},
                             job={"threshold": -3.0})
    with thread_server(create_app(settings, scorer=FakeScorer())) as base:
        cmd = [CLI, "run", f"{base}/openapi.json", "--checks",
               "not_a_server_error,response_schema_conformance,content_type_conformance",
               "--max-examples", "15", "--max-time", "40", "--seed", "1", "--generation-database", "none",
               "--request-timeout", "20", "-H", f"Authorization: Bearer {TOKEN}", "--no-color"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path)  # cache out of the repo
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    sent = {m[0]: float(m[1]) for m in re.findall(r'hygiene_http_requests_total\{(.*?)\} (\S+)', metrics)}
    assert sum(sent.values()) > 200  # it really exercised the API
    assert not [labels for labels in sent if re.search(r'status="5\d\d"', labels)], sent
