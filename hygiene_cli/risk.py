"""`hygiene risk`: argparse setup and runner (kept out of cli.py, which only wires commands)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .summary import finish

__all__ = ["add_risk_parser", "run_risk"]

_EPILOG = """Writes OUT/risk.html (open it in a browser) and OUT/risk.json. The machine share is corrected for the
detector's error rates measured on labelled reference scores (default: the shipped news/stories reference;
use --detector-reference for your own domain). Numbers marked "sampled" in the report come from a uniform
sample of the corpus."""


def add_risk_parser(sub, add_scoring_options) -> argparse.ArgumentParser:
    p = sub.add_parser("risk", help="estimate synthetic share, duplication, diversity and collapse horizon",
                       description="Assess a corpus's collapse risk and what `hygiene clean` would buy.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_options(p)
    from .options import add_engine_options

    add_engine_options(p)  # the detector scores the sample on Ray with --engine ray
    p.add_argument("--out", required=True, type=Path, help="directory for risk.html and risk.json")
    p.add_argument("--overwrite", action="store_true", help="replace the risk.html and risk.json already in --out")
    p.add_argument("--threshold", type=float, help="detector threshold (default: the calibration's)")
    p.add_argument("--calibration", type=Path, help="calibration JSON from `hygiene calibrate`")
    r = p.add_argument_group("risk")
    r.add_argument("--sample", type=int, default=2000,
                   help="documents scored by the detector and measured for diversity (default: 2000)")
    r.add_argument("--dedup-sample", type=int, default=1_000_000,
                   help="documents checked for duplicates; larger corpora are sampled (default: 1000000)")
    r.add_argument("--detector-reference", nargs="+", default=[], metavar="SHARD",
                   help="labelled shards (text, label 0 human / 1 machine) that measure the detector's errors")
    r.add_argument("--diversity-reference", nargs="+", default=[], metavar="SHARD",
                   help="human corpus to compare diversity with")
    r.add_argument("--no-embeddings", action="store_true", help="skip the MiniLM embedding diversity")
    r.add_argument("--target-generations", type=int, default=10,
                   help="generations of self-training that count as safe (default: 10)")
    r.add_argument("--seed", type=int, default=0)
    return p


def run_risk(args: argparse.Namespace, scoring_overrides) -> int:
    from hygiene.config import load_config
    from hygiene.errors import RunError
    from hygiene.reporting import numbers
    from hygiene.risk import RiskOptions, assess
    from hygiene.risk.report import RISK_HTML, RISK_JSON, write_risk_report

    from .options import engine_overrides
    from .progress import TqdmProgress

    overrides = {**scoring_overrides(args), **engine_overrides(args), "threshold": args.threshold,
                 "calibration": str(args.calibration) if args.calibration else None}
    config = load_config(args.config, overrides)
    existing = [p for p in (args.out / RISK_JSON, args.out / RISK_HTML) if p.exists()]
    if existing and not args.overwrite:  # before any reading or scoring
        raise RunError(f"{args.out} already holds a risk report ({', '.join(p.name for p in existing)})",
                       setting="overwrite")
    options = RiskOptions(sample=args.sample, dedup_sample=args.dedup_sample,
                          detector_reference=tuple(args.detector_reference),
                          diversity_reference=tuple(args.diversity_reference), embeddings=not args.no_embeddings,
                          target_generations=args.target_generations, seed=args.seed)
    result = assess(args.inputs, config, options, progress=TqdmProgress(enabled=not args.quiet))
    json_path, html_path = write_risk_report(args.out, result)
    score, machine = result["integrity"], result["machine_fraction"]
    if score["grade"] is None:
        lines = [f"integrity {numbers.number(score['score'], 1)}/100, grade withheld: {score['grade_withheld']}",
                 f"  to fix: {score['recommendations'][0]}"]
    else:
        lines = [f"integrity {numbers.number(score['score'], 1)}/100, grade {score['grade']}"]
    raw, cleaned = result["horizon"]["raw"]["generations"], result["horizon"]["cleaned"]["generations"]
    lines += [f"  machine-generated share {numbers.share(machine['fraction'])} "
              f"({numbers.share_interval(machine['low'], machine['high'])}; "
              f"flagged {numbers.share(machine['flagged_share'])})",
              f"  duplicates {numbers.share(result['duplicates']['duplicate_rate'])}",
              f"  collapse horizon: {numbers.generations(raw)} as is, {numbers.generations(cleaned)} after clean",
              f"  report {html_path}", f"  json   {json_path}"]
    summary = {"command": "risk", "out": str(args.out), "integrity": score["score"], "grade": score["grade"],
               "machine_fraction": machine["fraction"], "duplicate_rate": result["duplicates"]["duplicate_rate"],
               "horizon_generations": {"raw": _finite(raw), "cleaned": _finite(cleaned)},
               "report": str(html_path), "json": str(json_path)}
    return finish(args, lines, summary)


def _finite(value):
    """JSON has no infinity: an infinite horizon (no collapse predicted) is null."""
    return None if value is None or value == float("inf") else value
