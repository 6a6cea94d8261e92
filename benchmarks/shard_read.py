"""Reader throughput: `hygiene.io.shards.read_batches` over generated parquet, JSONL and gzip JSONL shards.

CPU time (best of --repeats) is the figure to compare: it barely moves when other jobs share the cores;
wall time is shown beside it. The shards are made at run time (records with a text and two metadata fields,
~300 bytes each) and cached under .cache/shard_read/. Whatever `hygiene` is on PYTHONPATH is measured, so the
same command run against an older checkout compares readers:

    PYTHONPATH=. python benchmarks/shard_read.py --rows 200000
    PYTHONPATH=/tmp/base python benchmarks/shard_read.py --rows 200000   # e.g. `git archive` of a base commit
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "shard_read"
WORDS = "river stone market winter signal garden copper lantern orbit meadow harbor violet thunder canvas".split()


def _records(rows: int) -> list[dict]:
    rng = random.Random(0)
    return [{"text": " ".join(rng.choices(WORDS, k=40)), "source": f"site-{i % 97}", "score": rng.random()}
            for i in range(rows)]


def _shards(rows: int) -> dict[str, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = {fmt: CACHE / f"r{rows}.{fmt}" for fmt in ("parquet", "jsonl", "jsonl.gz")}
    if not all(p.exists() for p in paths.values()):
        records = _records(rows)
        pq.write_table(pa.Table.from_pylist(records), paths["parquet"], row_group_size=64 * 1024)
        lines = "".join(json.dumps(r) + "\n" for r in records).encode()
        paths["jsonl"].write_bytes(lines)
        paths["jsonl.gz"].write_bytes(gzip.compress(lines, 6))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-rows", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="best of N")
    args = parser.parse_args()
    from hygiene.io.shards import discover, read_batches

    for fmt, path in _shards(args.rows).items():
        (shard,) = discover([path])
        wall = cpu = float("inf")
        for _ in range(args.repeats):
            start, start_cpu, n = time.perf_counter(), time.process_time(), 0
            for batch in read_batches(shard, batch_rows=args.batch_rows):
                n += len(batch.rows) + len(batch.quarantined)
            wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
        assert n == args.rows, (fmt, n)
        print(f"{fmt:9} {args.rows} rows  CPU {cpu:6.2f} s  {args.rows / cpu:10,.0f} rows/CPU-s  "
              f"(wall {wall:.2f} s; {path.stat().st_size / 1e6:.0f} MB file)")


if __name__ == "__main__":
    main()
