"""Fit a two-expert detector directory (detectors/experts.py) from the token caches of two scorers.

The detector benchmarks/detect_experts.py measured with ``--second gemma=PATH``: a chat-model expert (a head over
SmolLM2-135M's features, fitted on the GPT-3.5/4 sets) and a base-model expert (a head over a second scorer's
features, fitted on the base-model sets), each beside the human-only ``--extra`` domains and each shifted by its
own worst-domain threshold (the chat expert's at 5 % FPR, the base expert's at ``--base-offset-fpr``). The
detector's score is the larger shifted logit; its threshold is the worst-domain 5 % threshold of that score over
the training human rows, out of fold (an expert's leave-one-set-out logit where it was trained, its prediction
elsewhere), and its P(machine) calibration is fitted on the same scores.

Each expert is written as a feature model directory (``corpus-hygiene-features``) with only its head, its
feature settings and, for the general / rarity families, the unigram of its reference (no word order). Then the
directory is loaded with :func:`detectors.learned.load_trained` and ``--check`` documents are scored live by both
scorers, to confirm that the cached features are the ones the detector computes.

    nice -n 10 .venv/bin/python benchmarks/detect_shipped_experts.py --second gemma=PATH.gguf \\
        --base head:gemma.zeroshot+gemma.dist --base-offset-fpr 0.01 --out DIR
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from detect_corpora import load_set  # noqa: E402
from detect_experts import EXTRA, FPR, SHARED, experts  # noqa: E402
from detect_features import (  # noqa: E402
    SECOND_SCORERS,
    Bench,
    build_reference,
    candidate,
    split_scorer,
    use_second_scorer,
)

from detectors.experts import save_experts_model  # noqa: E402
from detectors.learned import NEEDS_REFERENCE, REFERENCE_FILE, FeatureConfig, load_trained, save_feature_model  # noqa: E402
from detectors.probability import ProbabilityCalibration  # noqa: E402
from detectors.reference import ReferenceScores  # noqa: E402
from detectors.supervised import binary_metrics  # noqa: E402

REFERENCE = "wikitext-valid+packages+docstrings"
DEFAULT_SCORER = "SmolLM2-135M-Instruct.Q4_1"


def save_expert(bench: Bench, head, part: tuple, out: Path, source: str) -> None:
    """Write one expert (``part`` as :func:`detect_experts.expert` returns it) as a feature model directory."""
    _, oof, _, result = part
    prefixes = {split_scorer(f)[0] for f in head.families}
    if len(prefixes) != 1:
        raise SystemExit(f"{head.name}: an expert reads one scorer's families")
    prefix = prefixes.pop()
    families = tuple(split_scorer(f)[1] for f in head.families)
    n_rows = int(sum(np.isfinite(scores).sum() for scores in oof.values()))
    needs_reference = any(f in NEEDS_REFERENCE for f in families)
    reference = bench.reference[prefix].unigram_only() if needs_reference else None
    scorer = Path(SECOND_SCORERS[prefix][0]).stem if prefix else DEFAULT_SCORER
    config = FeatureConfig(scorer=scorer, families=families, max_tokens=512,
                           reference=REFERENCE_FILE if needs_reference else None)
    save_feature_model(result, config, out, {"source": source, "sets": list(oof), "n_rows": n_rows}, reference)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--second", required=True, metavar="NAME=PATH", help="the base expert's scorer")
    parser.add_argument("--chat", default="head:zeroshot+dist+general+rarity", help="the chat-model expert")
    parser.add_argument("--base", required=True, help="the base-model expert (NAME.family heads)")
    parser.add_argument("--base-offset-fpr", type=float, default=0.01)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--check", type=int, default=16, help="documents scored live to compare (0: skip)")
    args = parser.parse_args(argv)
    use_second_scorer(args.second)
    chat, base = candidate(args.chat), candidate(args.base)
    bench = Bench([*SHARED, *EXTRA], build_reference(REFERENCE), ("raw",), 0, REFERENCE)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    rows = {name: len(d["labels"]) for name, d in bench.data.items()}
    source = (f"shared/data/detect/*.jsonl and the human-only extras {', '.join(EXTRA)}, the rows both scorers' token "
              f"caches hold ({rows}), via benchmarks/detect_shipped_experts.py at commit {commit}; CPU, float32, "
              "512 tokens")
    with tempfile.TemporaryDirectory() as tmp:
        trained = experts(bench, chat, base, list(SHARED), set(), args.base_offset_fpr)
        save_expert(bench, chat, trained.chat, Path(tmp) / "chat", source)
        save_expert(bench, base, trained.base, Path(tmp) / "base", source)
        chat_offset, base_offset = trained.chat[2], trained.base[2]
        threshold, training = trained.threshold, trained.training
        labels = [bench.data[name]["labels"] for name in training]
        score, y = np.concatenate(list(training.values())), np.concatenate(labels)
        ok = np.isfinite(score)
        calibration = ProbabilityCalibration.fit(score[ok], y[ok], "isotonic")
        metrics = binary_metrics(y[ok], score[ok], threshold)
        save_experts_model(args.out, [("chat", Path(tmp) / "chat", chat_offset), ("base", Path(tmp) / "base",
                                                                                    base_offset)],
                           {"logit": threshold, "target_fpr": FPR, "rule": "worst-domain",
                            "chosen_on": "out-of-fold scores of the human training rows"},
                           calibration,
                           {"source": source, "chat": args.chat, "base": args.base,
                            "base_offset_fpr": args.base_offset_fpr, "created": datetime.date.today().isoformat(),
                            "out_of_fold": metrics})
    ReferenceScores(detector=f"experts:{args.out.name}", statistic="supervised", model=DEFAULT_SCORER, max_tokens=512,
                    human=tuple(float(v) for v in np.round(score[ok & (y == 0)], 6)),
                    machine=tuple(float(v) for v in np.round(score[ok & (y == 1)], 6)),
                    source="out-of-fold scores of the training rows; " + source,
                    created=datetime.date.today().isoformat()).to_json(args.out / "reference_scores.json")
    print(f"{args.out}: offsets chat {chat_offset:.4f}, base {base_offset:.4f}; threshold {threshold:.4f}; "
          f"out-of-fold AUROC {metrics['auroc']:.4f}")
    if args.check:
        texts, _ = load_set("xsum_gpt-4")
        texts = texts[: args.check]
        cached = trained.score("xsum_gpt-4")[: args.check]
        live = load_trained(args.out).score(texts)
        diff = np.abs(live - cached).max()
        print(f"live vs cached scores on {len(texts)} xsum_gpt-4 documents: max |diff| {diff:.2e}")
    print(json.dumps({"threshold": threshold, "offsets": [chat_offset, base_offset]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
