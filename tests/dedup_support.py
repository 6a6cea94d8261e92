"""Shared by the hygiene.dedup tests: near-duplicate corpora and a throwaway redis-server."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

WORDS = ("alpha beta gamma delta river stone cloud market winter engine paper forest signal garden "
         "copper silent narrow orbit velvet harbor lantern meadow quartz ripple saddle timber").split()


def near_duplicate_signatures(n: int, copies: int, edit: float, seed: int, num_perm: int = 128) -> np.ndarray:
    """Random signatures where `copies` rows are edited copies (a fraction `edit` of values redrawn)
    of random other rows; copies of copies make chains and multi-member clusters."""
    rng = np.random.default_rng(seed)
    sig = rng.integers(0, 2**32, size=(n, num_perm), dtype=np.uint64).astype(np.uint32)
    for src, dst in zip(rng.integers(0, n, copies), rng.integers(0, n, copies)):
        sig[dst] = sig[src]
        redraw = rng.random(num_perm) < edit
        sig[dst, redraw] = rng.integers(0, 2**32, size=int(redraw.sum()), dtype=np.uint64).astype(np.uint32)
    return sig


def near_duplicate_texts(n_originals: int, seed: int) -> list[str]:
    """Originals of ~60 words plus edited copies (2-6 % of words replaced) and a few exact copies,
    shuffled."""
    rng = random.Random(seed)
    docs = [" ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(60)) for _ in range(n_originals)]
    out = list(docs)
    for doc in rng.sample(docs, n_originals // 3):
        words = doc.split()
        for i in rng.sample(range(len(words)), rng.randint(1, 4)):
            words[i] = rng.choice(WORDS)
        out.append(" ".join(words))
    out += [d.upper() for d in rng.sample(docs, n_originals // 10)]  # same normalised text
    rng.shuffle(out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis_server(tmp: Path, password: str | None = None) -> Iterator[str]:
    """A real redis-server on a free loopback port (no persistence; ``password``: it requires one), as a URL;
    skips if absent."""
    pytest.importorskip("redis", reason="the redis client is not installed (pip install 'corpus-hygiene[redis]')")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    import redis

    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp),
         *(["--requirepass", password] if password else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, password=password)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        client.close()
        yield f"redis://{f':{password}@' if password else ''}127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
