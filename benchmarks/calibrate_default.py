"""Regenerate detectors/calibrations/smollm2-135m-likelihood.json, the default detector's threshold.

The default detector (SmolLM2-135M-Instruct GGUF, statistic "likelihood", 512 tokens) scores every row of
the seven ../shared/data/detect/*.jsonl sets; the threshold is the one with a 5 % false-positive rate on the
pooled human rows (label 0), ``flag = score >= threshold``. Only the number and its provenance are written.

Per-set statistics (all four statistics, human and machine rows) are cached as .npz files under
``.cache/detect-stats`` (gitignored), keyed by data file, model and window, so a rerun, and
benchmarks/detect_accuracy.py, do not score again.

    .venv/bin/python benchmarks/calibrate_default.py [--fpr 0.05] [--limit N]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from detectors.calibration import DEFAULT_CALIBRATION, Calibration, threshold_at_fpr  # noqa: E402
from detectors.zeroshot import SCORE_SIGN, ZeroShotDetector  # noqa: E402

DATA_DIR = REPO.parent / "shared" / "data" / "detect"
CACHE_DIR = REPO / ".cache" / "detect-stats"
OUTPUT = REPO / "detectors" / "calibrations" / DEFAULT_CALIBRATION


def read_rows(path: Path, limit: int | None = None) -> list[dict]:
    """Rows of one set; ``limit`` keeps the first N (the files alternate human / machine pairs)."""
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return rows[:limit] if limit else rows


def cache_file(path: Path, model: str, dtype, max_tokens: int, limit: int | None, cache_dir: Path = CACHE_DIR) -> Path:
    """Where :func:`set_statistics` caches one set scored by ``model`` in ``dtype`` with a ``max_tokens`` window."""
    # Keyed by content, not mtime: a re-mounted copy of the same data must not be scored again.
    content = hashlib.sha256(path.read_bytes()).hexdigest()
    key = f"{path.name}:{content}:{model}:{dtype}:{max_tokens}:{limit}"
    return cache_dir / f"{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def load_cached(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def set_statistics(
    path: Path, detector: ZeroShotDetector, cache_dir: Path = CACHE_DIR, limit: int | None = None
) -> dict[str, np.ndarray]:
    """All statistics of one set plus ``labels`` and ``seconds`` (scoring time), from the cache if there."""
    cached = cache_file(path, detector.lm.name, detector.lm.dtype, detector.max_tokens, limit, cache_dir)
    if getattr(detector.window, "normalize", "none") != "none":
        cached = cached.with_name(cached.stem + f"-{detector.window.normalize}.npz")
    if cached.is_file():
        return load_cached(cached)
    rows = read_rows(path, limit)
    start = time.perf_counter()
    stats = detector.statistics([row["text"] for row in rows])
    stats["seconds"] = np.array(time.perf_counter() - start)
    stats["labels"] = np.array([row["label"] for row in rows], dtype=np.int64)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=cache_dir)
    with os.fdopen(fd, "wb") as handle:
        np.savez(handle, **stats)
    os.replace(tmp, cached)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--fpr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="first N rows per set (default: all)")
    args = parser.parse_args(argv)

    files = sorted(args.data_dir.glob("*.jsonl"))
    if not files:
        parser.error(f"no *.jsonl in {args.data_dir}")
    detector = ZeroShotDetector(statistic="likelihood", max_tokens=512, batch_size=args.batch_size)
    scores, labels = [], []
    for path in files:
        stats = set_statistics(path, detector, args.cache_dir, args.limit)
        scores.append(SCORE_SIGN[detector.statistic] * stats[detector.statistic])
        labels.append(stats["labels"])
        print(f"{path.name}: {len(stats['labels'])} rows, {float(stats['seconds']):.0f} s", flush=True)
    score, label = np.concatenate(scores), np.concatenate(labels)
    human = score[label == 0]
    threshold = threshold_at_fpr(human, args.fpr)
    flags = score >= threshold
    names = ", ".join(path.name for path in files)
    rows = "all rows" if args.limit is None else f"the first {args.limit} rows of each"
    calibration = Calibration(
        detector=detector.name,
        statistic=detector.statistic,
        model=detector.lm.name,
        max_tokens=detector.max_tokens,
        threshold=threshold,
        target_fpr=args.fpr,
        n_human=int(human.size),
        source=(
            f"threshold_at_fpr(scores, {args.fpr}) over the label 0 (human) rows of {rows} of {names} "
            f"(shared/data/detect, from the Fast-DetectGPT release), scored on {detector.lm.device} in "
            f"{str(detector.lm.dtype).removeprefix('torch.')} by benchmarks/calibrate_default.py; "
            "flag = score >= threshold; tpr and auroc are in-sample, pooled over the same files"
        ),
        created=datetime.date.today().isoformat(),
        tpr=round(float(flags[label == 1].mean()), 4),
        auroc=round(float(roc_auc_score(label, score)), 4),
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    calibration.to_json(args.output)
    print(f"threshold {threshold!r} at FPR {args.fpr} over {human.size} human rows -> {args.output}")
    print(f"pooled in-sample: TPR {calibration.tpr}, AUROC {calibration.auroc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
