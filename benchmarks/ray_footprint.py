"""Memory of a `clean --engine ray` run by process kind, for one set of Ray start options.

    python benchmarks/ray_footprint.py CORPUS --init '{"object_store_memory": 268435456}' --out .cache/footprint

Runs ``hygiene.pipeline.run`` (``--detector none``, dedup engine auto) in a child process that first starts a
local Ray cluster (2 CPUs) with ``ray.init(**INIT)``, so the engine uses that cluster as it is. Every 0.2 s it
sums the proportional set size (PSS) of the child and all its descendants, grouped by kind (the driver, raylet,
gcs_server, Ray's agents and monitors, the workers), and prints, as one JSON line: wall seconds, the peak of the
sum, the groups at that moment, the peak of each group by itself, the largest RSS of one process of each kind
(shared pages counted in full), and the digest of the removed rows (the same as ``dedup_e2e.py``'s). CORPUS is
a folder of shards such as ``dedup_e2e.py`` generates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def kind(cmdline: list[str], root: bool) -> str:
    text = " ".join(cmdline)
    if root:
        return "driver"
    for name in ("raylet", "gcs_server"):
        if f"/{name}" in text:
            return name
    if text.startswith("ray::") and not any(a in text for a in ("Agent", "agent")):
        return "workers"
    return "agents"  # dashboard and runtime-env agents, log monitor, autoscaler monitor


def sample(pid: int) -> tuple[dict[str, int], dict[str, int]]:
    """(PSS summed per kind, largest RSS of one process per kind)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}, {}
    groups: dict[str, int] = {}
    rss: dict[str, int] = {}
    for p in procs:
        try:
            name = kind(p.cmdline(), p.pid == pid)
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        groups[name] = groups.get(name, 0) + info.pss
        rss[name] = max(rss.get(name, 0), info.rss)
    return groups, rss


def child(corpus: Path, out: Path, init: dict) -> None:
    import ray

    from hygiene.config import CleanConfig
    from hygiene.pipeline import run

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False, **init)
    config = CleanConfig.model_validate({"detector": {"kind": "none"}, "engine": "ray"})
    run([corpus], out, config, overwrite=True)
    ray.shutdown()


def digest(out: Path) -> str:
    import pyarrow.parquet as pq

    found = {}
    for path in sorted((out / "removed").glob("*.parquet")):
        table = pq.read_table(path, columns=["id", "hygiene_reason"])
        found.update(zip(table.column("id").to_pylist(), table.column("hygiene_reason").to_pylist()))
    return hashlib.sha256("\n".join(sorted(f"{k} {v}" for k, v in found.items())).encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--init", default="{}", help="ray.init keyword arguments as JSON")
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "ray-footprint")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    init = json.loads(args.init)
    if args.child:
        child(args.corpus, args.out, init)
        return
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, str(args.corpus), "--init", args.init, "--out", str(args.out),
                             "--child"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, at_peak, group_peaks, rss_peaks = 0, {}, {}, {}
    while proc.poll() is None:
        groups, rss = sample(proc.pid)
        for name, value in rss.items():
            rss_peaks[name] = max(rss_peaks.get(name, 0), value)
        total = sum(groups.values())
        if total > peak:
            peak, at_peak = total, groups
        for name, value in groups.items():
            group_peaks[name] = max(group_peaks.get(name, 0), value)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(proc.stderr.read().decode()[-2000:])
    mb = 2**20
    print(json.dumps({"init": init, "wall_s": round(wall, 1), "peak_tree_pss_mb": round(peak / mb),
                      "at_peak_mb": {k: round(v / mb) for k, v in sorted(at_peak.items())},
                      "group_peaks_mb": {k: round(v / mb) for k, v in sorted(group_peaks.items())},
                      "largest_rss_mb": {k: round(v / mb) for k, v in sorted(rss_peaks.items())},
                      "removed_digest": digest(args.out)[:8]}))


if __name__ == "__main__":
    main()
