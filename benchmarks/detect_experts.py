"""Two experts instead of one head: the larger of a chat-model expert's and a base-model expert's score.

No single linear head serves both kinds of machine text (benchmarks/RESULTS.md, issue 15, tables J-L):
trained on the GPT-3.5/4 sets it is weak on base-model (GPT-2-class) text, trained on all sets the base
models pull its GPT-4 recall down. Here one head is fitted on the training GPT sets and one on the training
base-model sets (each beside the human-only extras), each shifted by its own threshold at
``--base-offset-fpr`` / 5 % (worst-domain, out-of-fold), and the detector's score is the larger of the two;
its threshold is the worst-domain 5 % threshold of that score on the training human rows (an expert's
out-of-fold score where it was trained, its prediction elsewhere).

Protocols as in detect_features.py (leave one shared set out with its articles dropped from training,
cross-domain news <-> stories, human domains), same summary columns.

    .venv/bin/python benchmarks/detect_experts.py --chat head:zeroshot+dist+general+rarity \\
        --base head:zeroshot+dist+general --base-offset-fpr 0.05 0.01
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from detect_features import (  # noqa: E402
    BASE_SETS,
    GPT_SETS,
    HEADER,
    Bench,
    _domain,
    build_reference,
    candidate,
    evaluate,
    split_scorer,
    summary_row,
    use_second_scorer,
)

from detectors.calibration import threshold_at_fpr  # noqa: E402
from detectors.features import families_contexts  # noqa: E402
from detectors.supervised import fit, head_logits  # noqa: E402

FPR = 0.05
EXTRA = ("wikitext2_valid", "package_docs", "package_docstrings", "manpages_a")
DOMAINS = ("wikitext2_test", "python_docs", "manpages_b", "gnu_info", "perl_pod")
SHARED = (*GPT_SETS, *BASE_SETS)


def worst_domain(scores: dict[str, np.ndarray], bench: Bench, fpr: float) -> float:
    """The highest per-domain threshold at ``fpr`` over the human rows of ``scores`` (NaN = not a training row)."""
    by_domain: dict[str, list[np.ndarray]] = {}
    for name, s in scores.items():
        by_domain.setdefault(_domain(name), []).append(s[(bench.data[name]["labels"] == 0) & np.isfinite(s)])
    pooled = [np.concatenate(v) for v in by_domain.values()]
    return max(threshold_at_fpr(h, fpr) for h in pooled if h.size)


def expert(bench: Bench, cand, train_sets: list[str], drop: set[str], offset_fpr: float):
    """A head on ``train_sets`` + EXTRA (rows of articles in ``drop`` removed): (score function, per-set
    out-of-fold scores, its own worst-domain threshold at ``offset_fpr``, the fit itself)."""
    names = [*train_sets, *EXTRA]
    xs, ys, gs, masks = [], [], [], {}
    for g, name in enumerate(names):
        d = bench.data[name]
        x = bench.matrix(name, cand)
        masks[name] = ok = ~np.isin(d["keys"], list(drop)) & np.isfinite(x).all(1)
        xs.append(x[ok])
        ys.append(d["labels"][ok])
        gs.append(np.full(ok.sum(), g))
    x, y, groups = np.vstack(xs), np.concatenate(ys), np.concatenate(gs)
    # one set of machine text left (a held-out xsum base set drops the other's articles): k-fold instead
    by_set = groups if np.unique(groups[y == 1]).size > 1 else None
    result = fit(x, y, groups=by_set, target_fpr=FPR)
    oof, start = {}, 0
    for name in names:
        oof[name] = np.full(len(masks[name]), np.nan)
        oof[name][masks[name]] = result.oof_logits[start:start + masks[name].sum()]
        start += masks[name].sum()
    head = result.head
    return (lambda name: head_logits(head, np.nan_to_num(bench.matrix(name, cand)))), oof, worst_domain(
        oof, bench, offset_fpr), result


@dataclass(frozen=True)
class Experts:
    """The two-expert detector trained on one split: each expert as :func:`expert` returns it (score function,
    out-of-fold scores, offset, fit), the combined scores of the training rows and their threshold."""

    chat: tuple
    base: tuple
    training: dict[str, np.ndarray]
    threshold: float

    def score(self, name: str, a=None, b=None) -> np.ndarray:
        """max(chat - its offset, base - its offset) on set ``name`` (``a``, ``b``: the experts' logits if known)."""
        (chat_fn, _, chat_thr, _), (base_fn, _, base_thr, _) = self.chat, self.base
        a = chat_fn(name) if a is None else a
        b = base_fn(name) if b is None else b
        return np.maximum(a - chat_thr, b - base_thr)


def experts(bench: Bench, chat, base, train_shared: list[str], drop: set[str], base_offset: float) -> Experts:
    """The two-expert detector trained on ``train_shared``; its threshold at 5 % FPR, worst domain, on the
    training rows' combined scores (an expert's out-of-fold logit where it was trained, its prediction elsewhere)."""
    chat_part = expert(bench, chat, [s for s in train_shared if s in GPT_SETS], drop, FPR)
    base_part = expert(bench, base, [s for s in train_shared if s in BASE_SETS], drop, base_offset)
    pending = Experts(chat_part, base_part, {}, np.nan)
    training = {}
    for name in [*train_shared, *EXTRA]:
        s = pending.score(name, chat_part[1].get(name), base_part[1].get(name))
        s[np.isin(bench.data[name]["keys"], list(drop))] = np.nan
        training[name] = s
    return Experts(chat_part, base_part, training, worst_domain(training, bench, FPR))


def run(bench: Bench, chat, base, base_offset: float, domains: tuple[str, ...] = DOMAINS) -> dict:
    result = {"loso": {}, "cross": {}, "domains": {}}
    for test in SHARED:
        keys = set(bench.data[test]["keys"].tolist())
        trained = experts(bench, chat, base, [s for s in SHARED if s != test], keys, base_offset)
        result["loso"][test] = evaluate(trained.score(test), bench.data[test]["labels"], trained.threshold)
    for domain in ("xsum", "writing"):
        trained = experts(bench, chat, base, [s for s in SHARED if s.startswith(domain)], set(), base_offset)
        for test in SHARED:
            if not test.startswith(domain):
                result["cross"][test] = evaluate(trained.score(test), bench.data[test]["labels"], trained.threshold)
    trained = experts(bench, chat, base, list(SHARED), set(), base_offset)
    for test in domains:
        result["domains"][test] = evaluate(trained.score(test), bench.data[test]["labels"], trained.threshold)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chat", nargs="+", default=["head:zeroshot+dist+general+rarity"],
                        help="chat-model expert(s), each measured with each base-model expert")
    parser.add_argument("--base", nargs="+", default=["head:zeroshot+dist+general"],
                        help="base-model expert(s), each measured")
    parser.add_argument("--base-offset-fpr", type=float, nargs="+", default=[FPR],
                        help="the base-model expert's own threshold, as a human FPR (lower: it speaks up less)")
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS),
                        help="human domains the detector trained on all sets is measured on (FPR columns, in order)")
    parser.add_argument("--base-rows", type=int, default=400, help="first N rows of each base-model set")
    parser.add_argument("--second", action="append", default=[], metavar="NAME=PATH",
                        help="a second scorer (as detect_features.py --second): its families as NAME.family")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    for spec in args.second:
        use_second_scorer(spec)
    chats, bases = [candidate(c) for c in args.chat], [candidate(b) for b in args.base]
    families = sorted({f for c in (*chats, *bases) for f in c.families if not split_scorer(f)[0]})
    start = time.perf_counter()
    reference = "wikitext-valid+packages+docstrings"
    bench = Bench([*SHARED, *args.domains, *EXTRA], build_reference(reference), families_contexts(families) or ("raw",),
                  args.base_rows, reference)
    print(f"extras {', '.join(EXTRA)}; setup {time.perf_counter() - start:.0f} s\n\n{HEADER}", flush=True)
    results = {}
    for chat in chats:
        for base in bases:
            for offset in args.base_offset_fpr:
                label = f"max({chat.name}, {base.name} @ {offset:g} FPR)"
                results[label] = run(bench, chat, base, offset, tuple(args.domains))
                print(summary_row(label, results[label]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
