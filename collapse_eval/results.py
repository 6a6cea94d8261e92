"""The results table of a run: one row per seed x condition x generation, plus hull volumes.

Columns (results.parquet / results.json):
  seed, condition, arm, mode, generation      which chain and step (generation 0 = the human-trained model)
  human_share        human fraction of the pool's rows (1.0 for human_only)
  pool_human_share   the same, measured on the actual pool (differs in accumulate mode)
  synthetic_fraction synthetic fraction of the rows the generation was actually trained on
  temperature, top_k, top_p, init             sampling and re-training settings of the chain
  train_tokens, train_steps, train_loss       the fixed budget (equal in every arm) and its mean loss
  pool_rows, unique_train_rows                pool size and how many distinct rows the budget drew
  filter_precision, filter_recall             removed-vs-synthetic of the filter (NaN: no filter)
  filter_auroc                                detector score vs provenance on the pool (filtered arm)
  filter_removed_detector, filter_removed_dedup
  perplexity, perplexity_ratio                held-out human perplexity, and its ratio to generation 0
  distinct_1/2/3, self_bleu4, zipf_exponent, vocab_size, mean_length, repetition_rate
                                              of `metric_samples` continuations from fixed prompts
  vendi                                       Vendi score of their MiniLM embeddings
  hull_volume, hull_volume_n50                3-D PCA convex-hull volume, basis fitted per seed on all
                                              generations and chains pooled; at n = metric_samples and
                                              at n = 50 (first 50 samples): compare only at equal n
  wall_s, wall_data_s, wall_train_s           seconds
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hygiene.io.atomic import atomic_path, write_json
from hygiene.risk.measures import hull_volume, pca_basis

from .config import CollapseConfig

__all__ = ["Rows", "load_rows", "add_hull_volumes", "finalize"]

Rows = list[dict[str, Any]]


def load_rows(out: Path) -> Rows:
    rows = [json.loads(p.read_text()) for p in Path(out).glob("seed*/*/gen[0-9][0-9].json")]
    if not rows:
        raise FileNotFoundError(f"no finished generations under {out}")
    return sorted(rows, key=lambda r: (r["seed"], r["condition"], r["generation"]))


def add_hull_volumes(rows: Rows, out: Path) -> Rows:
    rows = [{**r, "hull_volume": math.nan, "hull_volume_n50": math.nan} for r in rows]
    for seed in sorted({r["seed"] for r in rows}):
        embs = {}
        for i, r in enumerate(rows):
            path = Path(out) / f"seed{seed}" / r["condition"] / f"emb{r['generation']:02d}.npy"
            if r["seed"] == seed and path.exists():
                embs[i] = np.load(path).astype(np.float64)
        if not embs:
            continue
        n = min(len(e) for e in embs.values())
        mean, comp = pca_basis(np.concatenate([e[:n] for e in embs.values()]))
        for i, e in embs.items():
            pts = (e[:n] - mean) @ comp.T
            rows[i]["hull_volume"] = hull_volume(pts)
            rows[i]["hull_volume_n50"] = hull_volume(pts[:50])
    return rows


def finalize(out: Path, config: CollapseConfig) -> Path:
    """Write results.parquet, results.json, summary.json and report.html; returns the report path."""
    from .collapse import summarize
    from .report import write_report

    out = Path(out)
    rows = add_hull_volumes(load_rows(out), out)
    with atomic_path(out / "results.parquet") as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(rows, indent=0) + "\n")
    summary = summarize(rows, config)
    write_json(out / "summary.json", summary)
    return write_report(out / "report.html", rows, summary, config)
