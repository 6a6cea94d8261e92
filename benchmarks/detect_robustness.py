"""AUROC of the default detector under cheap character attacks, with and without input normalisation.

Attacks (RAID-style, applied to every document, human and machine alike, fixed seed):

- ``homoglyph``: each letter that has a Cyrillic/Greek look-alike is swapped for it with probability p;
- ``zero_width``: a zero-width space (U+200B) is inserted after each character with probability p;
- ``whitespace``: after each word, with probability p, 1-3 extra spaces (or a tab) are inserted; words
  themselves are not split;
- ``case_swap``: each letter's case is flipped with probability p.

Defences (:data:`detectors.normalize.NORMALIZERS`): ``none``, ``nfkc`` (NFKC + homoglyph folding +
invisible characters removed + whitespace collapsed), ``nfkc+case`` (also repair irregular in-word case),
``nfkc+lower`` (also lower-case everything). Each cell is the mean over sets of the per-set AUROC of one
statistic. Every text's statistics are cached by content hash (benchmarks/text_cache.py), so a rerun or a
new defence only scores texts it has not seen.

    .venv/bin/python benchmarks/detect_robustness.py [--rows 40] [--sets xsum_gpt-4 ...] [--p 0.1]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from calibrate_default import DATA_DIR, cache_file, load_cached, read_rows  # noqa: E402
from text_cache import TextStatsCache  # noqa: E402

from detectors.normalize import _LOOKALIKES, NORMALIZERS  # noqa: E402
from detectors.zeroshot import SCORE_SIGN, ZeroShotDetector  # noqa: E402

GPT_SETS = ["xsum_gpt-3.5-turbo", "writing_gpt-3.5-turbo", "xsum_gpt-4", "writing_gpt-4"]
_FAKES = {ascii_char: fakes for ascii_char, fakes in _LOOKALIKES.items()}


def homoglyph(text: str, rng: random.Random, p: float) -> str:
    return "".join(rng.choice(_FAKES[c]) if c in _FAKES and rng.random() < p else c for c in text)


def zero_width(text: str, rng: random.Random, p: float) -> str:
    return "".join(c + "\u200b" if rng.random() < p else c for c in text)


def whitespace(text: str, rng: random.Random, p: float) -> str:
    words = text.split(" ")
    return "".join(w + (rng.choice(["  ", "   ", " \t"]) if rng.random() < p else " ") for w in words).rstrip(" ")


def case_swap(text: str, rng: random.Random, p: float) -> str:
    return "".join(c.swapcase() if c.isalpha() and rng.random() < p else c for c in text)


ATTACKS = {"clean": None, "homoglyph": homoglyph, "zero_width": zero_width, "whitespace": whitespace,
           "case_swap": case_swap}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--sets", nargs="+", default=GPT_SETS)
    parser.add_argument("--rows", type=int, default=40, help="first N rows of each set (half human)")
    parser.add_argument("--p", type=float, default=0.1, help="per-character / per-word attack probability")
    parser.add_argument("--defences", nargs="+", default=list(NORMALIZERS), choices=list(NORMALIZERS))
    parser.add_argument("--statistics", nargs="+", default=["likelihood", "lrr", "fast_detectgpt"])
    parser.add_argument("--max-tokens", type=int, default=512)
    args = parser.parse_args(argv)

    detector = ZeroShotDetector(max_tokens=args.max_tokens, batch_size=16)
    cache = TextStatsCache(detector, tag="raw")
    data = {name: read_rows(args.data_dir / f"{name}.jsonl", args.rows) for name in args.sets}
    for name, rows in data.items():  # clean texts were scored whole-set by calibrate_default.py: reuse that
        cached = cache_file(args.data_dir / f"{name}.jsonl", detector.lm.name, detector.lm.dtype,
                            detector.max_tokens, None)
        if cached.is_file():
            cache.prefill([row["text"] for row in rows], load_cached(cached))
    results: dict[tuple[str, str, str], list[float]] = {}
    for attack, fn in ATTACKS.items():
        for defence in args.defences:
            prep = NORMALIZERS[defence]
            for name, rows in data.items():
                rng = random.Random(f"{attack}:{name}")  # same attacked text whatever the defence
                texts = [row["text"] if fn is None else fn(row["text"], rng, args.p) for row in rows]
                texts = [prep(t) for t in texts] if prep else texts
                labels = np.array([row["label"] for row in rows])
                stats = cache.stats(texts)
                for statistic in args.statistics:
                    auc = roc_auc_score(labels, SCORE_SIGN[statistic] * stats[statistic])
                    results.setdefault((statistic, attack, defence), []).append(auc)
            print(f"done {attack} / {defence}", flush=True)
    n = sum(len(rows) for rows in data.values())
    print(f"\nsets: {', '.join(args.sets)}; first {args.rows} rows each ({n} docs); p = {args.p}; "
          f"max_tokens {args.max_tokens}; model {detector.lm.name}\n")
    for statistic in args.statistics:
        print(f"### {statistic}: mean AUROC over sets (change vs clean text, no defence)\n")
        print("| attack | " + " | ".join(args.defences) + " |")
        print("|---|" + "---|" * len(args.defences))
        base = np.mean(results[(statistic, "clean", "none")])
        for attack in ATTACKS:
            cells = [np.mean(results[(statistic, attack, d)]) for d in args.defences]
            print(f"| {attack} | " + " | ".join(f"{c:.3f} ({c - base:+.3f})" for c in cells) + " |")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
