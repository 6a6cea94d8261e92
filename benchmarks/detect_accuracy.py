"""Zero-shot detector accuracy on ../shared/data/detect, beside the published AUROCs, and CPU throughput.

For each *.jsonl set: AUROC of every statistic of the default detector (SmolLM2-135M-Instruct GGUF,
max_tokens 512) including LRR and the one-model Binoculars ratio, TPR at 1 % FPR, TPR and FPR at the
shipped 5 %-FPR threshold, and docs/s of the scoring run. Statistics are shared with
benchmarks/calibrate_default.py through its cache (.cache/detect-stats), so a set scored once is not scored
again. Then:

- short texts: likelihood AUROC on the first 64 / 128 tokens of each document (``--short 64 128``; sets
  whose short window is not cached yet are scored, bounded by ``--short-rows``);
- learned combination (detectors/supervised.py head over the six zero-shot features), measured only on
  data it was not fitted on: leave-one-set-out over all sets, and cross-domain (train on every xsum set,
  test on every writing set, and the reverse);
- throughput on the same documents: a plain per-document transformers loop (one text at a time,
  likelihood only) against ZeroShotDetector's batched pass (all statistics).

    .venv/bin/python benchmarks/detect_accuracy.py [--max-rows N] [--short 64 128] [--skip-throughput]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from calibrate_default import CACHE_DIR, DATA_DIR, read_rows, set_statistics  # noqa: E402

from detectors.calibration import default_calibration, threshold_at_fpr  # noqa: E402
from detectors.lm import LoadedLM, load_causal_lm  # noqa: E402
from detectors.supervised import fit, head_logits, train_head, zeroshot_features  # noqa: E402
from detectors.zeroshot import ZeroShotDetector  # noqa: E402

COLUMNS = {  # our column -> the statistic and sign whose AUROC it reports
    "likelihood": ("likelihood", 1.0),
    "log-rank": ("log_rank", 1.0),
    "entropy (low = machine)": ("entropy", -1.0),
    "entropy (high = machine)": ("entropy", 1.0),
    "Fast-DetectGPT (analytic, self-sampled)": ("fast_detectgpt", 1.0),
    "LRR": ("lrr", 1.0),
    "Binoculars, observer = performer (-log-ppl / entropy)": ("binoculars_self", 1.0),
}


def with_derived(stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add statistics computable from the cached ones (caches predate LRR)."""
    out = dict(stats)
    if "lrr" not in out:
        out["lrr"] = out["likelihood"] / np.minimum(out["log_rank"], -1e-6)
    out["binoculars_self"] = out["likelihood"] / out["entropy"]  # = -(log-ppl / cross-ppl) with one model
    return out


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr: float) -> float:
    """TPR at the threshold with ``fpr`` on this set's own human rows (an oracle threshold per set)."""
    return float(np.mean(scores[labels == 1] >= threshold_at_fpr(scores[labels == 0], fpr)))


def read_anchors(path: Path) -> dict[str, list[str]]:
    """The published table in ANCHORS.md: set name -> its cells, plus the header under "set"."""
    table: dict[str, list[str]] = {}
    if not path.is_file():
        return table
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and not set(cells[0]) <= {"-", ":"}:
            table[cells[0]] = cells[1:]
    return table


def accuracy_table(detector: ZeroShotDetector, files: list[Path], max_rows: int | None, cache: Path) -> str:
    calibration = default_calibration()
    matches = (calibration.model, calibration.statistic, calibration.max_tokens) == (
        detector.lm.name,
        detector.statistic,
        detector.max_tokens,
    )
    anchors = read_anchors(files[0].parent / "ANCHORS.md")
    published = [f"published: {name}" for name in anchors.get("set", [])]
    header = ["set", "n", *COLUMNS, "likelihood TPR @ 1 % FPR (per-set thr)", "TPR @ shipped thr",
              "FPR @ shipped thr", "docs/s", *published]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    print("\n".join(lines), flush=True)
    for path in files:
        stats = with_derived(set_statistics(path, detector, cache, max_rows))
        labels = stats["labels"]
        cells = [path.stem, str(labels.size)]
        cells += [f"{roc_auc_score(labels, sign * stats[key]):.3f}" for key, sign in COLUMNS.values()]
        cells.append(f"{tpr_at_fpr(labels, stats['likelihood'], 0.01):.3f}")
        if matches:
            flags = calibration.flag(stats["likelihood"])
            cells += [f"{flags[labels == 1].mean():.3f}", f"{flags[labels == 0].mean():.3f}"]
        else:
            cells += ["n/a", "n/a"]
        cells.append(f"{labels.size / float(stats['seconds']):.2f}")
        cells += anchors.get(path.stem, ["-"] * len(published))
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def short_table(lm: LoadedLM, files: list[Path], windows: list[int], rows: int, cache: Path) -> str:
    """Likelihood AUROC on the first N tokens of each document, beside the full 512-token window."""
    lines = ["| set | docs | " + " | ".join(f"first {w} tokens" for w in windows) + " | 512 tokens (same docs) |",
             "|---|---|" + "---|" * (len(windows) + 1)]
    print("\n".join(lines), flush=True)
    for path in files:
        cells = []
        for window in [*windows, 512]:
            detector = ZeroShotDetector(lm, max_tokens=window)
            stats = set_statistics(path, detector, cache, None if window == 512 else rows)
            n = min(rows, stats["labels"].size)
            cells.append(f"{roc_auc_score(stats['labels'][:n], stats['likelihood'][:n]):.3f}")
        lines.append(f"| {path.stem} | {n} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def learned_table(detector: ZeroShotDetector, files: list[Path], cache: Path, hidden: int) -> str:
    """Learned combination measured on unseen data only: leave-one-set-out and xsum <-> writing."""
    sets = {}
    for path in files:
        stats = set_statistics(path, detector, cache, None)
        sets[path.stem] = (zeroshot_features(stats), stats["labels"], stats["likelihood"])
    lines = ["| set | likelihood alone | learned, 5-fold CV within the set (in-domain) | learned, leave-one-set-out | "
             "learned, cross-domain | TPR @ 1 % FPR: likelihood / leave-one-set-out |", "|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for name, (x, y, likelihood) in sets.items():
        others = [n for n in sets if n != name]
        loso = head_logits(train_head(np.vstack([sets[n][0] for n in others]),
                                      np.concatenate([sets[n][1] for n in others]), hidden=hidden), x)
        domain = name.split("_")[0]
        train = [n for n in sets if not n.startswith(domain)]
        cross = head_logits(train_head(np.vstack([sets[n][0] for n in train]),
                                       np.concatenate([sets[n][1] for n in train]), hidden=hidden), x)
        in_domain = fit(x, y, hidden=hidden, folds=5).metrics["auroc"]
        lines.append(f"| {name} | {roc_auc_score(y, likelihood):.3f} | {in_domain:.3f} | "
                     f"{roc_auc_score(y, loso):.3f} | "
                     f"{roc_auc_score(y, cross):.3f} (trained on {'writing' if domain == 'xsum' else 'xsum'}) | "
                     f"{tpr_at_fpr(y, likelihood, 0.01):.3f} / {tpr_at_fpr(y, loso, 0.01):.3f} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def plain_loop(lm: LoadedLM, texts: list[str], max_tokens: int) -> np.ndarray:
    """The obvious baseline: one text at a time, full logits, mean log-likelihood (same BOS convention)."""
    prefix = [] if lm.tokenizer.bos_token_id is None else [lm.tokenizer.bos_token_id]
    out = []
    with torch.inference_mode():
        for text in texts:
            row = prefix + lm.tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens]
            ids = torch.tensor([row], device=lm.device)
            logp = torch.log_softmax(lm.model(input_ids=ids).logits[0, :-1].float(), dim=-1)
            out.append(logp.gather(1, ids[0, 1:, None]).mean().item())
    return np.array(out)


def throughput(detector: ZeroShotDetector, texts: list[str], repeats: int) -> str:
    """Best of ``repeats`` interleaved runs of each method (the best run is the least disturbed on a shared box)."""
    lm = detector.lm
    n_tokens = sum(
        min(len(ids), detector.max_tokens) for ids in lm.tokenizer(texts, add_special_tokens=False)["input_ids"]
    )
    plain_loop(lm, texts[:2], detector.max_tokens)  # warm-up
    detector.statistics(texts[:2])
    plain_s = batched_s = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        plain = plain_loop(lm, texts, detector.max_tokens)
        plain_s = min(plain_s, time.perf_counter() - start)
        start = time.perf_counter()
        batched = detector.statistics(texts)
        batched_s = min(batched_s, time.perf_counter() - start)
    agreement = np.abs(plain - batched["likelihood"]).max()

    def row(method: str, seconds: float) -> str:
        rate = f"{len(texts) / seconds:.2f} | {n_tokens / seconds:.0f}"
        return f"| {method} | {len(texts)} | {seconds:.1f} | {rate} |"

    return "\n".join(
        [
            "| method | docs | seconds | docs/s | tokens/s |",
            "|---|---|---|---|---|",
            row("plain per-document loop (likelihood only)", plain_s),
            row(f"ZeroShotDetector, batch {detector.batch_size}, length-sorted (all 4 statistics)", batched_s),
            "",
            (
                f"Best of {repeats} interleaved runs each. Speed-up {plain_s / batched_s:.2f}x; "
                "max |likelihood difference| between the two "
                f"{agreement:.2e}; {n_tokens} tokens, torch {torch.__version__}, "
                f"{torch.get_num_threads()} threads, {lm.device}, {str(lm.dtype).removeprefix('torch.')}."
            ),
        ]
    )


def cpu_name() -> str:
    """The CPU model as lscpu reports it (Linux), else whatever platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--max-rows", type=int, default=None, help="first N rows per set (default: all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dtype", default=None, help="scorer dtype (default: float32 on CPU)")
    parser.add_argument("--throughput-docs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per method (best is kept)")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--short", type=int, nargs="*", default=[64, 128], help="short windows (tokens)")
    parser.add_argument("--short-rows", type=int, default=300, help="first N rows per set for short windows")
    parser.add_argument("--short-sets", default="gpt-", help="only sets whose name contains this")
    parser.add_argument("--hidden", type=int, default=16, help="learned head: MLP hidden units (0 = logistic)")
    parser.add_argument("--skip-learned", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)

    files = sorted(args.data_dir.glob("*.jsonl"))
    if not files:
        parser.error(f"no *.jsonl in {args.data_dir}")
    detector = ZeroShotDetector(load_causal_lm(dtype=args.dtype), max_tokens=512, batch_size=args.batch_size)
    print(f"model {detector.lm.name}, {detector.lm.device}, {detector.lm.dtype}")
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch threads, cuda={torch.cuda.is_available()}")
    print(f"data: {args.data_dir}\n")
    if not args.skip_accuracy:
        print("## accuracy (AUROC)\n")
        accuracy_table(detector, files, args.max_rows, args.cache_dir)
    if args.short:
        print(f"\n## short texts: likelihood AUROC, first {args.short_rows} rows\n")
        short_table(detector.lm, [f for f in files if args.short_sets in f.stem], args.short, args.short_rows,
                    args.cache_dir)
    if not args.skip_learned:
        print(f"\n## learned combination (hidden={args.hidden}), unseen data only\n")
        learned_table(detector, files, args.cache_dir, args.hidden)
    if not args.skip_throughput:
        source = args.data_dir / "xsum_gpt-3.5-turbo.jsonl"
        texts = [row["text"] for row in read_rows(source, args.throughput_docs)]
        print(f"\n## throughput: first {len(texts)} rows of {source.name}\n")
        print(throughput(detector, texts, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
