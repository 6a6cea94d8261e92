"""`hygiene risk`: argparse setup and runner (kept out of cli.py, which only wires commands)."""

from __future__ import annotations

import argparse
from pathlib import Path

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


def _generations(value: float) -> str:
    return "never" if value == float("inf") else f"{value:.1f}"


def run_risk(args: argparse.Namespace, scoring_overrides) -> int:
    from hygiene.config import load_config
    from hygiene.risk import RiskOptions, assess
    from hygiene.risk.report import write_risk_report

    from .options import engine_overrides
    from .progress import TqdmProgress

    overrides = {**scoring_overrides(args), **engine_overrides(args), "threshold": args.threshold,
                 "calibration": str(args.calibration) if args.calibration else None}
    config = load_config(args.config, overrides)
    options = RiskOptions(sample=args.sample, dedup_sample=args.dedup_sample,
                          detector_reference=tuple(args.detector_reference),
                          diversity_reference=tuple(args.diversity_reference), embeddings=not args.no_embeddings,
                          target_generations=args.target_generations, seed=args.seed)
    result = assess(args.inputs, config, options, progress=TqdmProgress(enabled=not args.quiet))
    json_path, html_path = write_risk_report(args.out, result)
    score, machine = result["integrity"], result["machine_fraction"]
    if score["grade"] is None:
        print(f"integrity {score['score']:.1f}/100, grade withheld: {score['grade_withheld']}")
        print(f"  to fix: {score['recommendations'][0]}")
    else:
        print(f"integrity {score['score']:.1f}/100, grade {score['grade']}")
    print(f"  machine-generated share {machine['fraction']:.1%} "
          f"({machine['low']:.1%}-{machine['high']:.1%}; flagged {machine['flagged_share']:.1%})")
    print(f"  duplicates {result['duplicates']['duplicate_rate']:.1%}")
    raw, cleaned = result["horizon"]["raw"]["generations"], result["horizon"]["cleaned"]["generations"]
    print(f"  predicted generations to collapse: {_generations(raw)} as is, {_generations(cleaned)} after clean")
    print(f"  report {html_path}\n  json   {json_path}")
    return 0
