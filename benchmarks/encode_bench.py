"""The kernels' input built from Python strings (``encode(column.to_pylist())``) beside the one built from
Arrow's buffers (``encode_column``), interleaved in one process, on a shard written by ``dedup_e2e.py``.

    python benchmarks/dedup_e2e.py --docs 100000 --shards 8 --no-datasketch --out .cache/e2e
    python benchmarks/encode_bench.py .cache/e2e/corpus-100000-0/part-000.parquet --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import pyarrow.parquet as pq

from detectors.minhash import encode, text_keys
from hygiene.pipeline.text_bytes import encode_column


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shard", help="a parquet shard with a `text` column")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    column = pq.read_table(args.shard, columns=["text"]).column("text")
    text_keys(encode_column(column.slice(0, 8)))  # compile outside the timing
    times: dict[str, list[float]] = {"python_strings": [], "arrow_buffers": [], "key_kernel": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        encode(column.to_pylist())
        middle = time.perf_counter()
        encoded = encode_column(column)
        end = time.perf_counter()
        text_keys(encoded)
        times["python_strings"].append(middle - start)
        times["arrow_buffers"].append(end - middle)
        times["key_kernel"].append(time.perf_counter() - end)
    rows = len(column)
    print(json.dumps({"rows": rows, **{f"{k}_ms_per_100k": round(statistics.median(v) / rows * 1e8, 1)
                                       for k, v in times.items()}}))


if __name__ == "__main__":
    main()
