"""Bounded load test of POST /v1/score on loopback: throughput and latency, micro-batching on vs off.

Starts `hygiene serve` in a child process (once with micro-batching, once without), sends a fixed number
of one-text requests from 1, 8 and 32 concurrent clients (each level also stops at --time-limit), then
scores the same texts in-process with the same detector settings, batched by --max-batch, as the
reference. Everything stops by itself; the servers are terminated at the end.

    nice -n 10 .venv/bin/python benchmarks/service_load.py --max-tokens 64 --out /tmp/service_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
WIKITEXT = REPO.parent / "shared" / "data" / "text" / "wikitext-2" / "valid.txt"


def load_texts(n: int, words: int, seed: int = 0) -> list[str]:
    """Short documents: `words`-word windows of WikiText-2 (synthetic words when it is absent)."""
    rng = random.Random(seed)
    if WIKITEXT.exists():
        tokens = WIKITEXT.read_text(encoding="utf-8").split()
        starts = [rng.randrange(len(tokens) - words) for _ in range(n)]
        return [" ".join(tokens[s : s + words]) for s in starts]
    vocab = ["".join(rng.choices("aeioubcdfghklmnprstvw", k=rng.randint(3, 8))) for _ in range(2000)]
    return [" ".join(rng.choices(vocab, k=words)) for _ in range(n)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: argparse.Namespace, batching: bool, work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "hygiene_cli", "serve", "--port", str(port), "--output-root", str(work),
           "--max-tokens", str(args.max_tokens), "--batch-size", str(args.max_batch), "--max-batch",
           str(args.max_batch), "--batch-wait-ms", str(args.batch_wait_ms), "--threshold", "-3.0",
           "--log-level", "warning"]
    if not batching:
        cmd.append("--no-batching")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HYGIENE_TOKEN", None)
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise TimeoutError("server not ready in 300 s")


async def load_level(base: str, texts: list[str], clients: int, requests: int, time_limit: float) -> dict:
    latencies: list[float] = []
    errors = 0
    next_index = 0
    deadline = time.perf_counter() + time_limit

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal next_index, errors
        while next_index < requests and time.perf_counter() < deadline:
            i = next_index
            next_index += 1
            t = time.perf_counter()
            r = await client.post("/v1/score", json={"texts": [texts[i % len(texts)]]})
            if r.status_code == 200:
                latencies.append(time.perf_counter() - t)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:
        await client.post("/v1/score", json={"texts": texts[:1]})  # warm connection and model
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(latencies), "errors": errors, "wall_s": round(wall, 2),
            "docs_per_s": round(len(latencies) / wall, 2),
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
            "stopped_by_time_limit": len(latencies) + errors < requests}


def build(args: argparse.Namespace):
    from hygiene.config import load_config
    from hygiene.detector import build_detector

    return build_detector(load_config(None, {"detector.max_tokens": args.max_tokens,
                                             "detector.batch_size": args.max_batch}).detector)


def in_process(args: argparse.Namespace, scorer, texts: list[str]) -> dict:
    """The same detector settings, called directly with full batches: the ceiling REST is compared to."""
    scorer.statistics(texts[: args.max_batch])  # warm-up
    t = time.perf_counter()
    for start in range(0, len(texts), args.max_batch):
        scorer.statistics(texts[start : start + args.max_batch])
    wall = time.perf_counter() - t
    return {"docs": len(texts), "batch": args.max_batch, "wall_s": round(wall, 2),
            "docs_per_s": round(len(texts) / wall, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--levels", default="1,8,32", help="concurrent clients per level")
    p.add_argument("--requests", default="16,48,96", help="requests per level (one text each)")
    p.add_argument("--time-limit", type=float, default=120, help="seconds per level at most")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--words", type=int, default=40, help="words per text")
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--batch-wait-ms", type=float, default=10)
    p.add_argument("--modes", default="on,off", help="micro-batching modes to run")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    texts = load_texts(max(counts), args.words)
    results: dict = {"settings": vars(args) | {"out": str(args.out)}, "machine": {
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "load_avg": os.getloadavg()},
        "rest": {}}
    scorer = build(args)
    before = in_process(args, scorer, texts)  # measured before and after: other jobs share the CPU
    print(f"in-process (before): {before}", flush=True)
    with tempfile.TemporaryDirectory() as work:
        for mode in args.modes.split(","):
            proc, base = start_server(args, mode == "on", Path(work) / mode)
            try:
                rows = []
                for clients, n in zip(levels, counts):
                    row = asyncio.run(load_level(base, texts, clients, n, args.time_limit))
                    rows.append(row)
                    print(f"batching {mode:3} clients {clients:3}: {row}", flush=True)
                batches = [line for line in httpx.get(f"{base}/metrics").text.splitlines()
                           if line.startswith(("hygiene_score_batch_size_sum", "hygiene_score_batch_size_count"))]
                results["rest"][mode] = {"levels": rows, "batch_metrics": batches}
            finally:
                proc.terminate()
                proc.wait(30)
    after = in_process(args, scorer, texts)
    print(f"in-process (after): {after}")
    results["in_process"] = {"before": before, "after": after}
    reference = (before["docs_per_s"] + after["docs_per_s"]) / 2
    best = max(r["docs_per_s"] for mode in results["rest"].values() for r in mode["levels"])
    results["rest_over_in_process"] = round(best / reference, 3)
    print(f"best REST docs/s / in-process docs/s = {results['rest_over_in_process']}")
    results["machine"]["load_avg_end"] = os.getloadavg()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
