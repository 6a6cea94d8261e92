"""`hygiene train-detector` and `hygiene eval-detector`: argparse setup and runners (wired into hygiene_cli/main.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detectors.statistics import STATISTICS

from .options import add_overwrite_option, add_scoring_options, check_output, scoring_overrides
from .summary import finish, say

__all__ = ["register", "run_train", "run_eval", "COMMANDS", "SITE_PACKAGES"]

SITE_PACKAGES = "site-packages"  # --reference word: the installed packages' READMEs + docstrings (package_text)

_TRAIN_EPILOG = """The model directory holds model.onnx (the head, served by onnxruntime) and detector.json (feature
spec, scorer model and window, sha256 of every training file, out-of-fold metrics, probability calibration,
threshold at --fpr, reliability-diagram data) and reference_scores.json (the out-of-fold scores, risk's reference).
Use it anywhere a detector is chosen: hygiene clean|score|risk|eval-detector|serve ... --detector MODEL_DIR

--features FAMILIES trains on per-token statistics instead (detectors/features.py): zeroshot (the six summary
statistics), dist (log-probability quantiles, GLTR rank buckets, entropy spread, windowed Fast-DetectGPT,
burstiness), chat (the text scored as the assistant's reply in the scorer's chat template: a second pass),
cross (two-context Binoculars / Fast-DetectGPT), ref (log-probabilities against a trigram model of the human
text given with --reference, stored in the model directory as reference.npz), general (log-probabilities
against a unigram of English in general, from the wordfreq package's word frequencies; stored in the same
file), rarity (how well the LM predicts rare words against common ones), memo (first choices on rare words,
runs of first choices). ref, general, rarity and memo need --reference."""

_EVAL_EPILOG = """--detector is the same as for clean: zeroshot (default; --statistic picks the statistic, default
likelihood, the detector `clean` uses), binoculars, or a model directory from train-detector. TPR at 1 % / 5 %
FPR uses thresholds set on each file's own human rows; the confusion matrix uses the threshold clean would use
(--threshold, --calibration, the model directory's own, or the shipped default calibration for likelihood)."""


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train-detector", help="train a supervised detector on labelled shards (text, label 0/1) -> ONNX model dir",
        description="Score labelled shards with the zero-shot LM, fit a small head on its statistics, measure it "
                    "out-of-fold, calibrate P(machine), export ONNX.",
        epilog=_TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_options(train)  # the zero-shot scorer: --model, --max-tokens, --normalize, ... as everywhere
    train.add_argument("--label-column", default="label", help="0 = human, 1 = machine (default: label)")
    train.add_argument("--out", required=True, type=Path, help="model directory to write")
    add_overwrite_option(train, "a model directory")
    train.add_argument("--hidden", type=int, default=16, help="MLP hidden units; 0 = logistic regression (default 16)")
    train.add_argument("--probability-calibration", choices=["isotonic", "platt"], default="isotonic",
                       help="how P(machine) is calibrated from the head's logits (default: isotonic)")
    train.add_argument("--fpr", type=float, default=0.01, help="target false-positive rate of the threshold")
    train.add_argument("--folds", type=int, default=5, help="cross-validation folds when there is one file")
    train.add_argument("--embeddings", action="store_true", help="add MiniLM sentence embeddings to the features")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--features", default=None, metavar="FAMILIES",
                       help="comma-separated feature families of detectors.features (zeroshot, dist, chat, cross, "
                            "ref, general, rarity, memo): a head over per-token statistics (one LM pass per context) "
                            "instead of the six summary statistics; e.g. zeroshot,dist or zeroshot,dist,ref,general")
    train.add_argument("--reference", nargs="+", default=None, metavar="FILE",
                       help="human-written text for the reference model of the ref, general, rarity and memo families "
                            "(txt: one document per line; "
                            "parquet/JSONL: --text-column), stored in the model directory; the word "
                            f"{SITE_PACKAGES} adds the READMEs and docstrings of this Python's installed packages "
                            "(technical prose read at run time; combine it with text of your own domain)")
    ev = sub.add_parser(
        "eval-detector", help="AUROC, AUPRC, TPR at 1%%/5%% FPR and confusion matrix on labelled files",
        description="Evaluate a detector on any JSONL/parquet with text and label (0 human, 1 machine), per file "
                    "and overall; prints a table and writes JSON.",
        epilog=_EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_options(ev)
    ev.add_argument("--label-column", default="label", help="0 = human, 1 = machine (default: label)")
    ev.add_argument("--out", type=Path, default=Path("eval-detector.json"), help="JSON results (default: %(default)s)")
    ev.add_argument("--threshold", type=float, default=None, help="override the calibrated threshold")
    ev.add_argument("--calibration", type=Path, help="calibration JSON from `hygiene calibrate`")


def run_train(args: argparse.Namespace) -> int:
    import numpy as np

    from detectors.lm import load_causal_lm
    from detectors.supervised import FeatureSpec, fit, save_model, zeroshot_features
    from detectors.zeroshot import ZeroShotDetector
    from hygiene.config import ConfigError, load_config
    from hygiene.detector_eval import read_labelled
    from hygiene.io.shards import ShardError

    from .progress import TqdmProgress

    if not 0.0 < args.fpr < 1.0:
        raise ConfigError(f"--fpr must be between 0 and 1, got {args.fpr}")
    settings = load_config(args.config, scoring_overrides(args))
    check_output(args.out, overwrite=args.overwrite, directory=True)
    det = settings.detector
    if det.kind != "zeroshot":
        raise ConfigError(f"train-detector fits a head on the zero-shot statistics of one LM (--model); "
                          f"--detector {det.kind} cannot be trained on", setting="detector.kind")
    files = read_labelled(args.inputs, text_column=settings.text_column, label_column=args.label_column)
    texts = [t for f in files for t in f.texts]
    labels = np.concatenate([f.labels for f in files])
    groups = np.concatenate([[i] * len(f.texts) for i, f in enumerate(files)])
    if set(labels.tolist()) != {0, 1}:
        found = sorted(set(labels.tolist()))
        raise ShardError(f"training needs both human (0) and machine (1) rows; the inputs have labels {found}")
    if args.features is not None:
        return _train_features(args, settings, files, texts, labels, groups)
    if args.reference:
        raise ConfigError("--reference goes with --features ...,ref (or general, rarity, memo): the human-text "
                          "model those families read")
    zs = ZeroShotDetector(load_causal_lm(det.model, device=det.device), max_tokens=det.max_tokens,
                          batch_size=det.batch_size, normalize=det.normalize)
    progress = TqdmProgress(enabled=not args.quiet)
    progress.start("score", len(texts))
    stats = []
    for start in range(0, len(texts), 64):
        stats.append(zs.statistics(texts[start : start + 64]))
        progress.advance(len(texts[start : start + 64]))
    progress.finish()
    x = zeroshot_features({k: np.concatenate([s[k] for s in stats]) for k in stats[0]}) if stats else np.zeros((0, 6))
    encoder_name = None
    if args.embeddings:
        from detectors.embed import SentenceEncoder

        encoder = SentenceEncoder(device=det.device)
        x, encoder_name = np.hstack([x, encoder.encode(texts)]), encoder.name
    ok = np.isfinite(x).all(1)
    if (~ok).any():
        say(args, f"left out {int((~ok).sum())} unscorable rows (empty or too short)")
    result = fit(x[ok], labels[ok], groups=groups[ok] if len(files) > 1 else None, folds=args.folds,
                 hidden=args.hidden, calibration=args.probability_calibration, target_fpr=args.fpr, seed=args.seed)
    spec = FeatureSpec(scorer=zs.lm.name, max_tokens=det.max_tokens, normalize=det.normalize,
                       embedding=encoder_name)
    training = {
        "files": [{"path": str(f.path), "sha256": f.sha256, "rows": len(f.texts), "quarantined": f.quarantined}
                  for f in files],
        "n_rows": int(ok.sum()), "n_human": int((labels[ok] == 0).sum()), "n_machine": int((labels[ok] == 1).sum()),
        "unscorable": int((~ok).sum()), "seed": args.seed,
    }
    save_model(result, spec, args.out, training)
    return _trained(args, result, labels[ok], files, training, kind="supervised", scorer=zs.lm.name,
                    max_tokens=det.max_tokens)


def _train_features(args: argparse.Namespace, settings, files, texts: list[str], labels, groups) -> int:
    """`train-detector --features`: a head over detectors.features families (the detectors.learned format)."""
    import numpy as np

    from detectors.learned import NEEDS_REFERENCE, FeatureConfig, featurize, fit_reference, save_feature_model
    from detectors.lm import load_causal_lm
    from detectors.supervised import fit
    from detectors.tokens import TokenScorer
    from hygiene.config import ConfigError

    from .progress import TqdmProgress

    det = settings.detector
    families = tuple(f.strip() for f in args.features.split(",") if f.strip())
    if args.embeddings:
        raise ConfigError("--embeddings is not available with --features")
    needing = [f for f in families if f in NEEDS_REFERENCE]
    if bool(needing) != bool(args.reference):
        raise ConfigError(f"the {'/'.join(NEEDS_REFERENCE)} feature families and --reference go together (human "
                          f"text for their n-gram model); --features {args.features} "
                          f"{'has ' + ', '.join(needing) if needing else 'has none of them'}")
    try:
        config = FeatureConfig(scorer="", families=families, max_tokens=det.max_tokens, normalize=det.normalize,
                               reference="reference.npz" if args.reference else None)
    except ValueError as error:
        raise ConfigError(f"--features {args.features}: {error}") from None
    lm = load_causal_lm(det.model, device=det.device)
    config = FeatureConfig(**{**config.__dict__, "scorer": lm.name})
    reference = None
    if args.reference:
        human = _read_reference(args.reference, settings.text_column)
        reference = fit_reference(lm, human, source=", ".join(str(p) for p in args.reference), families=families)
    try:
        scorer = TokenScorer(lm, contexts=config.contexts, max_tokens=det.max_tokens, batch_size=det.batch_size,
                             normalize=det.normalize, chat_prompt=config.chat_prompt)
    except ValueError as error:  # a window longer than the model's, or no chat template for `chat`
        raise ConfigError(f"--features {args.features}: {error}") from None
    progress = TqdmProgress(enabled=not args.quiet)
    progress.start("score", len(texts))
    x = featurize(scorer, config, texts, reference=reference, advance=progress.advance)
    progress.finish()
    ok = np.isfinite(x).all(1)
    if (~ok).any():
        say(args, f"left out {int((~ok).sum())} unscorable rows (empty or too short)")
    result = fit(x[ok], labels[ok], groups=groups[ok] if len(files) > 1 else None, folds=args.folds,
                 hidden=args.hidden, calibration=args.probability_calibration, target_fpr=args.fpr, seed=args.seed)
    training = {
        "files": [{"path": str(f.path), "sha256": f.sha256, "rows": len(f.texts), "quarantined": f.quarantined}
                  for f in files],
        "n_rows": int(ok.sum()), "n_human": int((labels[ok] == 0).sum()), "n_machine": int((labels[ok] == 1).sum()),
        "unscorable": int((~ok).sum()), "seed": args.seed,
        "reference": reference.meta if reference is not None else None,
    }
    save_feature_model(result, config, args.out, training, reference)
    return _trained(args, result, labels[ok], files, training, kind="features", scorer=lm.name,
                    max_tokens=det.max_tokens, extra={"features": list(families)})


def _trained(args: argparse.Namespace, result, labels, files, training: dict, *, kind: str, scorer: str,
             max_tokens: int, extra: dict | None = None) -> int:
    """Store a trained directory's out-of-fold scores (`risk`'s reference for it) and report the training."""
    from hygiene.detector import save_reference

    save_reference(args.out, result.oof_logits, labels, name=f"{kind}:{args.out.name}", scorer=scorer,
                   max_tokens=max_tokens, source=f"out-of-fold logits ({result.validation}) of the "
                   f"{len(labels)} training rows of {', '.join(str(f.path) for f in files)}")
    m = result.metrics
    lines = [f"out-of-fold ({result.validation}): AUROC {m['auroc']:.4f}, AUPRC {m['auprc']:.4f}, "
             f"TPR@1%FPR {m['tpr_at_1pct_fpr']:.3f}, TPR@5%FPR {m['tpr_at_5pct_fpr']:.3f}",
             f"model written to {args.out} (model.onnx, detector.json); "
             f"evaluate with: hygiene eval-detector FILE --detector {args.out}"]
    summary = {"command": "train-detector", "out": str(args.out), "validation": result.validation,
               **(extra or {}), "metrics": m,
               **{k: training[k] for k in ("n_rows", "n_human", "n_machine", "unscorable")}}
    return finish(args, lines, summary)


def _read_reference(paths: list[str], text_column: str) -> list[str]:
    """Human documents for the reference model: .txt/.md files one per line, parquet/JSONL by ``text_column``,
    and the installed packages' READMEs and docstrings for the word ``site-packages``."""
    from hygiene.config import CleanConfig, ConfigError
    from hygiene.io.shards import open_shards
    from hygiene.package_text import docstring_documents, package_documents
    from hygiene.pipeline.stream import signal_batches

    docs: list[str] = []
    shards = []
    for path in map(Path, paths):
        if str(path) == SITE_PACKAGES:
            found = [doc["text"] for doc in (*package_documents(), *docstring_documents())]
            if not found:
                raise ConfigError(f"--reference {SITE_PACKAGES}: no installed package has a README with prose")
            docs.extend(found)
        elif path.suffix in (".txt", ".text", ".md") and path.is_file():
            docs.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        else:
            shards.append(path)
    if shards:
        config = CleanConfig(text_column=text_column)
        for item in signal_batches(open_shards(shards, text_column), config):
            docs.extend(item.batch.texts)
    return docs


def run_eval(args: argparse.Namespace) -> int:
    from hygiene.config import ConfigError, load_config
    from hygiene.detector_eval import evaluate
    from hygiene.errors import ThresholdError
    from hygiene.io.atomic import write_json
    from hygiene.thresholds import resolve_threshold

    from .progress import TqdmProgress

    if args.detector in STATISTICS:
        raise ConfigError(f"--detector {args.detector}: a statistic is chosen with --statistic "
                          f"(--detector zeroshot --statistic {args.detector})")
    config = load_config(args.config, {**scoring_overrides(args), "threshold": args.threshold,
                                       "calibration": str(args.calibration) if args.calibration else None})
    check_output(args.out, overwrite=True)  # a directory at --out fails now, not after scoring
    threshold, source = None, "none shipped for this detector"
    try:
        found = resolve_threshold(config)  # None for detector kind none: evaluate refuses it
        if found is not None:
            threshold, source = found.value, ("--threshold" if found.source == "config" else found.source)
    except ThresholdError as exc:
        if config.calibration is not None:  # the user's own file is unusable: say so rather than go without
            raise
        source = f"none: {exc}"  # AUROC and TPR need none; the confusion matrix is left out
    result = evaluate(args.inputs, config, threshold=threshold, threshold_source=source,
                      label_column=args.label_column, progress=TqdmProgress(enabled=not args.quiet))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    summary = {"command": "eval-detector", "out": str(args.out), "detector": result["detector"],
               "threshold": result["threshold"], "overall": result["overall"]}
    return finish(args, [format_table(result), f"written to {args.out}"], summary)


def format_table(result: dict) -> str:
    def cell(value, fmt="{:.4f}"):
        return "-" if value is None else fmt.format(value)

    lines = [f"detector {result['detector']}; threshold {cell(result['threshold'])} ({result['threshold_source']})",
             "| file | n | AUROC | AUPRC | TPR@1%FPR | TPR@5%FPR | TN | FP | FN | TP |", "|---|" + "---|" * 9]
    for name, m in [*result["files"].items(), ("overall", result["overall"])]:
        c = m.get("confusion", {})
        lines.append(f"| {Path(name).name} | {m.get('n', 0)} | {cell(m.get('auroc'))} | {cell(m.get('auprc'))} | "
                     f"{cell(m.get('tpr_at_1pct_fpr'), '{:.3f}')} | {cell(m.get('tpr_at_5pct_fpr'), '{:.3f}')} | "
                     + " | ".join(str(c.get(k, "-")) for k in ("tn", "fp", "fn", "tp")) + " |")
    return "\n".join(lines)


COMMANDS = {"train-detector": run_train, "eval-detector": run_eval}

if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: hygiene train-detector | eval-detector")
