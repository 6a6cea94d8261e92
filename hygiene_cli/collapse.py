"""`hygiene collapse`: argparse setup and runner, wired into hygiene_cli/main.py with one parser and one command."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

__all__ = ["add_collapse_parser", "run_collapse"]

_EPILOG = """Outputs in OUT: results.parquet and results.json (one row per seed x arm x generation; columns
documented in collapse_eval/results.py), summary.json (collapse generation and delay ratios with bootstrap
CIs), report.html, and per-chain checkpoints. Rerun the same command to resume after an interruption."""


def add_collapse_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("collapse", help="self-train GPT-2 for generations on filtered vs unfiltered mixes",
                       description="Recursive self-training: generation 0 learns human text, each later generation "
                                   "learns a pool of human rows and the previous model's samples, per arm "
                                   "(unfiltered, filtered, oracle, human_only). Measures when perplexity and "
                                   "diversity collapse, and how many generations filtering buys.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path,
                   help="TOML file (keys as in collapse_eval/presets/*.toml); the human base corpus is data.source "
                        "(default: $CORPUS_HYGIENE_HUMAN_TEXT, else ../shared/data/text/wikitext-2)")
    p.add_argument("--preset", choices=["tiny", "cpu-small", "gpu"],
                   help="tiny: < 3 min on CPU; cpu-small: tens of minutes on 2 cores; gpu: GPT-2 small on CUDA")
    p.add_argument("--out", type=Path, default=Path("collapse-out"), help="run directory (default: collapse-out)")
    p.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    p.add_argument("--generations", type=int, help="override the number of generations after generation 0")
    p.add_argument("--model", help="fine-tune pretrained GPT-2 weights (hub name or local dir) instead of "
                                   "training from scratch")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any setting as a dotted key and TOML value, e.g. --set sample.temperatures=[0.7,1.0]")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value  # a bare string
    return out


def run_collapse(args: argparse.Namespace) -> int:
    from collapse_eval.config import ConfigError, load_collapse_config
    from collapse_eval.corpus import CorpusError
    from collapse_eval.runner import RunError, run_experiment
    from hygiene_cli.progress import TqdmProgress

    try:
        if args.config is None and args.preset is None:
            raise ConfigError("give --config FILE or --preset NAME (tiny, cpu-small, gpu)")
        overrides = {"seeds": args.seeds, "generations": args.generations, "model.pretrained": args.model,
                     **_parse_set(args.set)}
        config = load_collapse_config(args.config, preset=args.preset, overrides=overrides)
        report = run_experiment(config, args.out, TqdmProgress(enabled=not args.quiet))
    except (ConfigError, CorpusError, RunError, ValueError) as exc:
        print(f"hygiene collapse: error: {exc}", file=sys.stderr)
        return 1
    print(f"finished: results {args.out / 'results.parquet'}, summary {args.out / 'summary.json'}, report {report}")
    return 0
