"""Shared by the service tests: a real uvicorn server on loopback (thread or subprocess) and a test scorer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import uvicorn

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789abcdef"


class FakeScorer:
    """Deterministic statistics from the text alone: for HTTP behaviour, not detection (the real LM is
    used in test_service_model.py). `delay_s` per call makes queues and running jobs observable."""

    name = "fake-length"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s, self.calls = delay_s, []

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        self.calls.append(len(texts))
        if self.delay_s:
            time.sleep(self.delay_s)
        value = np.array([-(len(t) % 7) - 0.5 for t in texts], dtype=np.float64)
        value[[i for i, t in enumerate(texts) if t.strip() == "x"]] = np.nan  # "nothing to score"
        return {"likelihood": value, "log_rank": value, "entropy": -value, "fast_detectgpt": value,
                "n_tokens": np.array([len(t.split()) for t in texts], dtype=np.int64),
                "truncated": np.zeros(len(texts), dtype=bool)}


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def thread_server(app) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free loopback port; yields the base URL."""
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def wait_ready(base: str, timeout: float = 180.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base} not ready after {timeout} s")


def start_process_server(args: list[str], port: int, log: Path) -> subprocess.Popen:
    """`hygiene serve ARGS --port PORT` in its own process (so it can be killed with SIGKILL)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("HYGIENE_TOKEN", None)
    cmd = [sys.executable, "-m", "hygiene_cli", "serve", "--port", str(port), *args]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def free_port() -> int:
    with free_socket() as sock:
        return sock.getsockname()[1]


def kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            kill9(proc)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120.0, until=("succeeded", "failed", "cancelled")):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in until:
            return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} still {job['state']} after {timeout} s")
