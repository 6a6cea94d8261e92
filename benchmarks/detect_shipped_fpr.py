"""A shipped model directory's own threshold on every cached set: the share of human rows it flags (FPR) and of
machine rows (TPR), and AUROC, from the token cache (no forward pass). The directory's head (ONNX), reference
and threshold are used as they ship; the sets it was trained on are marked, and for the others the FPR is also
given on the human rows whose article no training row holds (the shared sets share source articles).

    nice -n 10 .venv/bin/python benchmarks/detect_shipped_fpr.py detectors/calibrations/smollm2-135m-features-chat

A directory trained on another scorer's features reads that scorer's cache (token_cache.py --model PATH):
``--second gemma=PATH`` for ``detectors/calibrations/gemma-3-270m-features``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from detect_corpora import CONFIRM_HUMAN, EXTRA_HUMAN, HUMAN_DOMAINS, MANPAGE_HALVES, detect_sets  # noqa: E402
from detect_features import Bench, second_scorer_name, use_second_scorer  # noqa: E402

from detectors.features import families_contexts  # noqa: E402
from detectors.ngram import NgramModel  # noqa: E402
from detectors.supervised import OnnxHead  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--base-rows", type=int, default=400)
    parser.add_argument("--second", metavar="NAME=PATH", default=None,
                        help="the directory's scorer, when it is not the default one (its cache as token_cache.py "
                             "--model PATH wrote it); every set is then cut to the rows both scorers cached")
    parser.add_argument("--sets", nargs="+", default=None, help="only these sets (default: every one)")
    args = parser.parse_args(argv)
    meta = json.loads((args.model_dir / "detector.json").read_text())
    families = tuple(meta["features"]["families"])
    reference = meta["features"].get("reference")
    reference = NgramModel.load(args.model_dir / reference) if reference else None
    trained_on = set(meta["training"]["rows"])
    sets = args.sets or [*detect_sets(), *HUMAN_DOMAINS, *CONFIRM_HUMAN, *MANPAGE_HALVES, *EXTRA_HUMAN]
    scorer = use_second_scorer(args.second) if args.second else ""
    if scorer and second_scorer_name(scorer) != meta["features"]["scorer"]:
        raise SystemExit(f"{args.model_dir} was trained on scorer {meta['features']['scorer']!r}, not {args.second}")
    bench = Bench(sets, None, families_contexts(families), args.base_rows)
    bench.reference[scorer] = reference  # the directory's own, for its scorer's features
    prefix = f"{scorer}." if scorer else ""
    families = tuple(prefix + f for f in families)
    head, threshold = OnnxHead(args.model_dir / "model.onnx"), float(meta["threshold"]["logit"])
    print(f"{args.model_dir.name}: threshold {threshold:.4f}, families {','.join(families)}\n")
    seen = {k for name in trained_on if name in bench.data for k in bench.data[name]["keys"].tolist()}
    print("| set | in training | human rows | FPR at the shipped threshold | human rows of unseen articles | FPR on "
          "them | TPR | AUROC |\n" + "|---" * 8 + "|")
    for name in bench.sets:
        features = bench.features(name, families)
        logits = head(np.nan_to_num(np.column_stack([features[prefix + n] for n in meta["features"]["names"]])))
        labels = bench.data[name]["labels"]
        human, machine = logits[labels == 0], logits[labels == 1]
        unseen = human[~np.isin(bench.data[name]["keys"][labels == 0], list(seen))]
        unseen_fpr = f"{np.mean(unseen >= threshold):.3f}" if unseen.size and name not in trained_on else "-"
        tpr = f"{np.mean(machine >= threshold):.3f}" if machine.size else "-"
        auroc = f"{roc_auc_score(labels, logits):.3f}" if machine.size and human.size else "-"
        print(f"| {name} | {'yes' if name in trained_on else 'no'} | {human.size} | "
              f"{np.mean(human >= threshold):.3f} | {unseen.size if name not in trained_on else '-'} | {unseen_fpr} | "
              f"{tpr} | {auroc} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
