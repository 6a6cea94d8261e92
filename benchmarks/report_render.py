"""How long drawing each HTML report takes: the clean, risk and collapse pages, cold and warm.

Cold: a fresh Python process that imports the report module and draws one page (matplotlib and Jinja2
imported on the way, as in a `hygiene clean` run). Warm: the same page drawn again in that process.
No LM: the clean report is drawn from the manifest of a small run scored by word length, the risk
report from an assessment built from simulated detector scores (the real estimator, horizon model and
integrity score), the collapse report from the shipped `cpu-small` results (7 conditions x 3 seeds x
5 generations, 9 panels).

    nice -n 10 .venv/bin/python benchmarks/report_render.py --repeat 3 --out /tmp/report_render.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Run first, in a process of its own, so that nothing it imports warms the timed process.
_PREPARE = {
    "clean": '''
import json, random, sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
from hygiene.config import CleanConfig
from hygiene.pipeline import run
TMP = Path(sys.argv[1])
_STATISTICS = ("likelihood", "log_rank", "entropy", "fast_detectgpt")
class WordLength:
    name = "word-length"
    def statistics(self, texts):
        mean = np.array([-np.mean([len(w) for w in t.split()]) for t in texts])
        return {**{s: mean for s in _STATISTICS}, "n_tokens": np.array([len(t.split()) for t in texts]),
                "truncated": np.zeros(len(texts), bool)}
rng = random.Random(0)
words = ["".join(rng.choices("etaoinshrdlucmfwyp", k=rng.randint(2, 11))) for _ in range(2000)]
docs = [" ".join(rng.choices(words, k=rng.randint(40, 200))) for _ in range(2000)]
docs += docs[:40] + [d.upper() for d in docs[40:60]]
pq.write_table(pa.table({"text": docs}), TMP / "a.parquet")
run([TMP / "a.parquet"], TMP / "out", CleanConfig(threshold=-6.0), scorer=WordLength())
''',
}

_SETUP = {
    "clean": '''
import json
from hygiene.pipeline.report import write_report
manifest = json.loads((TMP / "out" / "manifest.json").read_text())
draw = lambda: write_report(TMP / "report.html", manifest)
''',
    "risk": '''
import math, numpy as np
from hygiene.risk.assess import _score_distribution
from hygiene.risk.horizon import load_horizon_model
from hygiene.risk.integrity import integrity
from hygiene.risk.prevalence import estimate_prevalence
from hygiene.risk.report import write_risk_report
rng = np.random.default_rng(0)
human, machine = rng.normal(-4, 0.6, 1000), rng.normal(-2.5, 0.6, 1000)
corpus = np.concatenate([rng.normal(-2.5, 0.6, 400), rng.normal(-4, 0.6, 1600)])
p = estimate_prevalence(corpus, human, machine, -3.2, bootstrap=200)
model = load_horizon_model()
result = {"corpus": {"shards": ["a"], "rows": 2000, "quarantined": 0, "readable": 2000},
          "sampling": {"machine_fraction": {"documents": 2000, "of": 2000, "sampled": False}},
          "detector": {"statistic": "likelihood", "model": "m", "max_tokens": 64, "threshold": {"value": -3.2},
                       "reference": "simulated"},
          "machine_fraction": p.to_dict(), "score_distribution": _score_distribution(corpus, human, machine),
          "duplicates": {"documents": 2000, "exact_duplicate_rate": 0.01, "near_duplicate_rate": 0.02,
                         "duplicate_rate": 0.03, "clusters": 30, "cluster_sizes": {"2": 25, "3": 4, "7": 1},
                         "largest_cluster": 7},
          "diversity": {"corpus": {"distinct_2": 0.8, "vendi": 40.0}},
          "horizon": model.predict_clean_vs_raw(p)}
result["integrity"] = integrity(result, target_generations=10, horizon_model=model)
draw = lambda: write_risk_report(TMP / "risk", result)
''',
    "collapse": '''
import json
from importlib import resources
from collapse_eval.config import load_collapse_config
from collapse_eval.report import write_report
data = resources.files("collapse_eval") / "data"
rows = json.loads((data / "cpu_small_results.json").read_text())
summary = json.loads((data / "cpu_small_summary.json").read_text())
config = load_collapse_config(preset="cpu-small")
draw = lambda: write_report(TMP / "report.html", rows, summary, config)
''',
}

_TIMER = '''
import json, sys, time
from pathlib import Path
TMP = Path(sys.argv[1])
{setup}
t = time.perf_counter(); draw(); cold = time.perf_counter() - t
warm = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); draw(); warm.append(time.perf_counter() - t)
print(json.dumps({{"cold_s": cold, "warm_s": warm}}))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="warm renders after the cold one")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    results = {}
    for name, setup in _SETUP.items():
        with tempfile.TemporaryDirectory() as tmp:
            if name in _PREPARE:
                subprocess.run([sys.executable, "-c", _PREPARE[name], tmp], check=True, env=env, cwd=REPO,
                               capture_output=True, timeout=900)
            # the setup's own imports come first; matplotlib and Jinja2 are imported inside draw()
            proc = subprocess.run([sys.executable, "-c", _TIMER.format(setup=setup), tmp, str(args.repeat)],
                                  capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
            if proc.returncode:
                sys.exit(proc.stderr[-3000:])
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            size = sum(p.stat().st_size for p in Path(tmp).rglob("*.html") if "out" not in p.parts)
        results[name] = {**got, "warm_median_s": sorted(got["warm_s"])[len(got["warm_s"]) // 2],
                         "html_bytes": size}
        print(f"{name:9s} cold {got['cold_s']:.2f} s, warm median {results[name]['warm_median_s']:.2f} s, "
              f"{size / 1024:.0f} KiB")
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "reports": results}, indent=2))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
