"""What the output format and removing .work/ cost: `hygiene dedup` (no model) over wikitext-2 paragraphs.

    python benchmarks/output_formats.py [--copies 4] [--out .cache/output-formats]

The corpus is ../shared/data/text/wikitext-2/{test,valid}.txt split into paragraphs, repeated `--copies`
times (so a quarter of the rows are originals and the rest exact duplicates when copies=4) over 8 shards.
For each format: the run's wall time, its write pass, the bytes of kept/removed/quarantine, and the bytes
of .work/ (measured with keep_work, then removed the way a finished run removes it, timed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hygiene.config import CleanConfig, DetectorSettings
from hygiene.pipeline import run, rundir

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "wikitext-2"


def _paragraphs() -> list[str]:
    lines = []
    for name in ("test.txt", "valid.txt"):
        lines += [line.strip() for line in (SHARED / name).read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if len(line) > 80 and not line.startswith("=")]


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path(".cache/output-formats"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    texts = _paragraphs() * args.copies
    data = args.out / "in"
    data.mkdir(parents=True)
    per = -(-len(texts) // 8)
    for k in range(8):
        pq.write_table(pa.table({"text": pa.array(texts[k * per:(k + 1) * per], pa.large_string())}),
                       data / f"part-{k}.parquet")
    results = {"rows": len(texts), "input_bytes": _bytes(data), "formats": {}}
    for fmt in ("parquet", "jsonl", "jsonl.gz", "jsonl.zst"):
        out = args.out / fmt
        config = CleanConfig(detector=DetectorSettings(kind="none"), output_format=fmt, keep_work=True)
        start = time.perf_counter()
        result = run([data], out, config)
        seconds = time.perf_counter() - start
        work = _bytes(out / ".work")
        start = time.perf_counter()
        rundir.remove_work(out)
        removal = time.perf_counter() - start
        results["formats"][fmt] = {
            "seconds": round(seconds, 2), "write_s": result.manifest["timings_s"]["write"],
            "output_bytes": sum(_bytes(out / d) for d in ("kept", "removed", "quarantine")),
            "work_bytes": work, "remove_work_s": round(removal, 3), "counts": result.manifest["counts"]}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
