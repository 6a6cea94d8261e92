"""The `hygiene` command: clean, score, dedup, calibrate, demo, train-/eval-detector, collapse, risk and serve.

Each command group has its own module in this package (detectors, risk, collapse, serve) with its parser and
runner; this module wires them in. Heavy imports (torch, pyarrow, FastAPI) happen inside the runners, so
`hygiene --help` and argument errors return at once. Errors a user can fix (`hygiene.errors.HygieneError`) and
OS errors become one line on stderr and exit code 1."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hygiene.errors import ConfigError, HygieneError
from hygiene.io import columns as C

from . import detectors as cli_detectors
from .options import (
    add_engine_options,
    add_input_options,
    add_overwrite_option,
    add_scoring_options,
    check_output,
    engine_overrides,
    error_text,
    scoring_overrides,
)
from .risk import add_risk_parser, run_risk
from .summary import finish, quiet_libraries

__all__ = ["main", "build_parser"]

_EPILOG = """Outputs of clean: OUT/kept, OUT/removed, OUT/quarantine (one file per input shard that has rows there,
at the input's relative path), OUT/README.md (a Hugging Face dataset card: `datasets.load_dataset(OUT, "kept")`),
OUT/manifest.json, OUT/report.html. kept + removed + quarantined always equals the input rows. An interrupted
run resumes when rerun with the same inputs and settings; a finished one is replaced only with --overwrite."""


def _add_output_options(p: argparse.ArgumentParser) -> None:
    out = p.add_argument_group("output")
    out.add_argument("--out", required=True, type=Path, help="output directory (created; must be empty or a run)")
    out.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    out.add_argument("--output-format", choices=C.OUTPUT_FORMATS,
                     help="file format of the output shards (default: parquet)")
    out.add_argument("--add-id", action="store_true",
                     help="give kept rows the id column even when the input has none (SHARD:ROW)")
    out.add_argument("--keep-work", action="store_true",
                     help="keep OUT/.work/ (per-shard signals) after the run finishes; by default it is removed")


def _output_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"output_format": args.output_format, "add_id": True if args.add_id else None,
            "keep_work": True if args.keep_work else None}


def _add_dedup_options(p: argparse.ArgumentParser) -> None:
    dd = p.add_argument_group("deduplication")
    dd.add_argument("--no-exact-dedup", action="store_true", help="keep exact duplicates")
    dd.add_argument("--no-near-dedup", action="store_true", help="keep near-duplicates")
    dd.add_argument("--dedup-threshold", type=float, help="Jaccard similarity of near-duplicates (default: 0.55)")
    dd.add_argument("--shingle", choices=["word", "char"], help="shingle unit (default: char)")
    dd.add_argument("--ngram", type=int, help="shingle length in units (default: 5)")
    dd.add_argument("--num-perm", type=int, help="MinHash permutations (default: 128)")
    dd.add_argument("--bands", type=int, help="LSH bands (with --rows; default: chosen from the threshold)")
    dd.add_argument("--rows", type=int, help="LSH rows per band")
    dd.add_argument("--dedup-engine", choices=["auto", "memory", "disk"],
                    help="near dedup in memory, or on disk in bounded memory (partitioned band keys, capped "
                         "clusters); default auto: disk from 250,000 input rows on")
    dd.add_argument("--dedup-index", metavar="PATH|redis://HOST:PORT/DB",
                    help="persistent dedup index (SQLite file, or Redis): documents are checked against those of "
                         "earlier runs and added to it (score: checked only)")


def _add_job_options(p: argparse.ArgumentParser) -> None:
    add_scoring_options(p)
    _add_output_options(p)
    add_engine_options(p)
    det = p.add_argument_group("decision")
    det.add_argument("--threshold", type=float,
                     help="score at or above which a document is machine-generated "
                          "(default: the calibration's 5%% false-positive-rate threshold)")
    det.add_argument("--calibration", type=Path, help="calibration JSON from `hygiene calibrate`")
    det.add_argument("--keep-machine", action="store_true", help="score machine text but do not remove it")
    _add_dedup_options(p)


def _dedup_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "dedup.exact": False if args.no_exact_dedup else None,
        "dedup.near": False if args.no_near_dedup else None,
        "dedup.threshold": args.dedup_threshold,
        "dedup.shingle": args.shingle,
        "dedup.ngram": args.ngram,
        "dedup.num_perm": args.num_perm,
        "dedup.bands": args.bands,
        "dedup.rows": args.rows,
        "dedup.engine": args.dedup_engine,
        "dedup.index": args.dedup_index,
    }


def _job_overrides(args: argparse.Namespace) -> dict[str, Any]:
    if args.command == "dedup":  # `clean --detector none`
        return {"text_column": args.text_column, "id_column": args.id_column, "batch_rows": args.batch_rows,
                "detector.kind": "none", **_dedup_overrides(args), **engine_overrides(args), **_output_overrides(args)}
    return {
        **_output_overrides(args),
        **scoring_overrides(args),
        **engine_overrides(args),
        "threshold": args.threshold,
        "calibration": str(args.calibration) if args.calibration else None,
        "remove_machine": False if args.keep_machine else None,
        **_dedup_overrides(args),
    }


def build_parser() -> argparse.ArgumentParser:
    from hygiene import __version__

    parser = argparse.ArgumentParser(
        prog="hygiene",
        description="Keep machine-generated text and near-duplicates out of training corpora.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s (corpus-hygiene) {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    clean = sub.add_parser("clean", help="split shards into kept / removed / quarantined rows",
                           description="Score every document, deduplicate, and write cleaned shards.",
                           epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_job_options(clean)
    clean.add_argument("--annotate-kept", action="store_true", help="add the hygiene_* score columns to kept rows")
    dedup = sub.add_parser("dedup", help="exact + near dedup only: `clean --detector none` (no model is loaded)",
                           description="Remove exact and near-duplicates (MinHash + LSH) and write cleaned shards; "
                                       "the same run as `hygiene clean IN --out DIR --detector none`.",
                           epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_options(dedup)
    _add_output_options(dedup)
    add_engine_options(dedup)
    _add_dedup_options(dedup)
    dedup.add_argument("--annotate-kept", action="store_true", help="add the hygiene_* dedup columns to kept rows")
    score = sub.add_parser("score", help="annotate every row with scores and clusters; remove nothing",
                           description="Write OUT/scored/ (one file per input shard, in --output-format): every "
                                       "readable row with its id and hygiene_* columns, including the reason "
                                       "`clean` would remove it.")
    _add_job_options(score)
    cal = sub.add_parser(
        "calibrate", help="measure the threshold at a target false-positive rate on your own human text",
        description="Score labelled shards (label column: 0 human, 1 machine; without it every row counts "
                    "as human) and write a calibration JSON for `clean --calibration`.",
    )
    add_scoring_options(cal)
    cal.add_argument("--out", required=True, type=Path, help="calibration JSON to write")
    add_overwrite_option(cal, "a calibration file")
    cal.add_argument("--fpr", type=float, default=0.05, help="target false-positive rate (default: 0.05)")
    cal.add_argument("--label-column", default="label", help="0 = human, 1 = machine (default: label)")
    demo = sub.add_parser("demo", help="build a labelled demo corpus, clean it, and report precision/recall",
                          description="Human text from the Python standard library's docs, machine text "
                                      "generated now by the default LM, injected duplicates; then clean.")
    demo.add_argument("--out", type=Path, default=Path("demo-out"), help="working directory (default: demo-out)")
    demo.add_argument("--human", type=int, default=200, help="human documents (default: 200)")
    demo.add_argument("--machine", type=int, default=40, help="machine documents to generate (default: 40)")
    demo.add_argument("--near-duplicates", type=int, default=30, help="edited copies to inject (default: 30)")
    demo.add_argument("--exact-duplicates", type=int, default=10, help="exact copies to inject (default: 10)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    from .collapse import add_collapse_parser
    from .serve import add_serve_parser

    cli_detectors.register(sub)
    add_collapse_parser(sub)
    add_risk_parser(sub, add_scoring_options)
    add_serve_parser(sub)
    return parser


def _run_job(args: argparse.Namespace) -> int:  # clean and score
    from hygiene.config import load_config
    from hygiene.pipeline import run
    from hygiene.thresholds import run_warnings

    from .progress import TqdmProgress

    config = load_config(args.config, _job_overrides(args))
    mode = "score" if args.command == "score" else "clean"
    result = run(args.inputs, args.out, config, mode=mode, overwrite=args.overwrite,
                 annotate_kept=getattr(args, "annotate_kept", False),
                 progress=TqdmProgress(enabled=not args.quiet))
    counts = result.manifest["counts"]
    lines = [("resumed and finished" if result.resumed else "finished") + f": {counts['rows']} rows in"]
    if mode == "clean":
        by_reason = ", ".join(f"{k} {v}" for k, v in counts["removed_by_reason"].items())
        lines.append(f"  kept        {counts['kept']:>8}  {args.out / 'kept'}")
        lines.append(f"  removed     {counts['removed']:>8}  {args.out / 'removed'}  ({by_reason})")
    else:
        by_reason = ", ".join(f"{k} {v}" for k, v in counts["would_remove_by_reason"].items())
        lines.append(f"  scored      {counts['scored']:>8}  {args.out / 'scored'}  (clean would remove: {by_reason})")
    lines.append(f"  quarantined {counts['quarantined']:>8}  {args.out / 'quarantine'}")
    lines.append(f"  manifest    {args.out / 'manifest.json'}")
    lines.append(f"  report      {result.report}")
    warnings = run_warnings(result.manifest)  # said where the user looks, not only in the report
    lines += [f"warning: {w}" for w in warnings]
    summary = {"command": args.command, "out": str(args.out), "resumed": result.resumed, "counts": counts,
               "outputs": result.manifest.get("outputs", {}), "manifest": str(args.out / "manifest.json"),
               "report": str(result.report), "warnings": warnings}
    return finish(args, lines, summary)


def _run_calibrate(args: argparse.Namespace) -> int:
    from hygiene.calibrate import calibrate
    from hygiene.config import load_config

    from .progress import TqdmProgress

    if not 0.0 < args.fpr < 1.0:
        raise ConfigError(f"--fpr must be between 0 and 1, got {args.fpr}")
    config = load_config(args.config, scoring_overrides(args))
    check_output(args.out, overwrite=args.overwrite)
    result = calibrate(args.inputs, config, fpr=args.fpr, label_column=args.label_column,
                       progress=TqdmProgress(enabled=not args.quiet))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.to_json(args.out)
    measured = f", TPR {result.tpr:.3f}, AUROC {result.auroc:.3f}" if result.tpr is not None else ""
    lines = [f"threshold {result.threshold:.4f} at {args.fpr:.1%} FPR on {result.n_human} human rows{measured}",
             f"  written to {args.out}; use it with: hygiene clean ... --calibration {args.out}"]
    summary = {"command": "calibrate", "out": str(args.out), "threshold": result.threshold, "fpr": args.fpr,
               "n_human": result.n_human, "tpr": result.tpr, "auroc": result.auroc}
    return finish(args, lines, summary)


def _run_demo(args: argparse.Namespace) -> int:
    from hygiene.demo import run_demo

    from .progress import TqdmProgress

    run_demo(args.out, n_human=args.human, n_machine=args.machine, n_near=args.near_duplicates,
             n_exact=args.exact_duplicates, seed=args.seed, quiet=args.quiet,
             progress=TqdmProgress(enabled=not args.quiet))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .collapse import run_collapse
    from .serve import run_serve

    commands = {"collapse": run_collapse, "demo": _run_demo, "calibrate": _run_calibrate, "clean": _run_job,
                "score": _run_job, "dedup": _run_job, "risk": lambda a: run_risk(a, scoring_overrides),
                "serve": run_serve, **cli_detectors.COMMANDS}
    try:
        with quiet_libraries(getattr(args, "quiet", False)):
            return commands[args.command](args)
    except (HygieneError, OSError) as exc:
        command = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
        print(f"hygiene {args.command}: error: {error_text(exc, command)}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        print(f"hygiene {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
