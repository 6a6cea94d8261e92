"""Options every command that reads or scores shards shares, spelled once: inputs, reading, the detector.

`--detector` is the same everywhere (clean, score, dedup, calibrate, eval-detector, risk, serve) and maps to
`detector.kind` in a TOML config or a REST job; hygiene.detector builds what it names. Only light modules
are imported here (building the parser must not load torch, pyarrow or numba).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from detectors.normalize import NORMALIZERS
from detectors.statistics import STATISTICS

__all__ = ["add_input_options", "add_detector_options", "add_scoring_options", "scoring_overrides",
           "add_engine_options", "engine_overrides",
           "detector_overrides", "flags_for", "error_text"]

DETECTOR_HELP = ("zeroshot (default: one LM's token statistics), binoculars (observer --model / performer "
                 "--performer), none (no model: exact + near dedup only), features / features-chat (the shipped "
                 "trained detectors: a head over one pass's token features; features-chat for chat-model text), "
                 "or a model directory written by train-detector (its ONNX head, P(machine) calibration and "
                 "threshold)")


def add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="IN", help="shard files or directories (.parquet, .jsonl[.gz])")
    p.add_argument("--config", type=Path, help="TOML file with job settings; flags override it")
    p.add_argument("--quiet", action="store_true", help="no progress bars (also none from the model libraries)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON summary object on stdout at the end; messages go to stderr")
    io = p.add_argument_group("input")
    io.add_argument("--text-column", help="column holding the document text (default: text)")
    io.add_argument("--id-column", help="column holding document ids; created as SHARD:ROW when absent (default: id)")
    io.add_argument("--batch-rows", type=int, help="records read per batch; bounds memory (default: 1024)")


def add_detector_options(p: argparse.ArgumentParser, title: str = "machine-text detector") -> None:
    det = p.add_argument_group(title)
    det.add_argument("--detector", metavar="KIND|DIR", help=DETECTOR_HELP)
    det.add_argument("--model", help="HF hub name, local model dir or .gguf file (default: offline SmolLM2-135M)")
    det.add_argument("--performer", help="binoculars: the performer model (default: the --model itself)")
    det.add_argument("--statistic", choices=STATISTICS,
                     help="zeroshot: the statistic that decides (default: likelihood)")
    det.add_argument("--normalize", choices=tuple(NORMALIZERS),
                     help="undo homoglyph / invisible-character / whitespace tricks before scoring (default: none)")
    det.add_argument("--max-tokens", type=int,
                     help="scoring window in tokens; longer docs are truncated (default: 512; a model directory "
                          "keeps its own)")
    det.add_argument("--batch-size", type=int, help="documents per model batch (default: 16)")
    det.add_argument("--device", help="cuda, cuda:1, cpu (default: CUDA when available)")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    eng = p.add_argument_group("engine")
    eng.add_argument("--engine", choices=["local", "ray"],
                     help="where the steps run: local (this process; default) or ray (Ray Data stages, detector as "
                          "an actor pool on GPUs when the cluster has them; pip install 'corpus-hygiene[ray]')")
    eng.add_argument("--ray-address", metavar="ADDRESS",
                     help="Ray cluster to connect to (auto, ray://HOST:10001); default: start a local one with this "
                          "machine's CPUs")


def engine_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"engine": getattr(args, "engine", None), "ray_address": getattr(args, "ray_address", None)}


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    """Inputs, reading and the detector: what every command that scores shards shares."""
    add_input_options(p)
    add_detector_options(p)


def detector_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "detector.kind": args.detector,
        "detector.model": args.model,
        "detector.performer": args.performer,
        "detector.statistic": args.statistic,
        "detector.normalize": args.normalize,
        "detector.max_tokens": args.max_tokens,
        "detector.batch_size": args.batch_size,
        "detector.device": args.device,
    }


def scoring_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "text_column": args.text_column,
        "id_column": args.id_column,
        "batch_rows": args.batch_rows,
        **detector_overrides(args),
    }


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    return {action.dest: option for action in parser._actions for option in action.option_strings
            if option.startswith("--")}


def flags_for(message: str, parser: argparse.ArgumentParser) -> str:
    """A core message names settings in backticks (`threshold`, `detector_reference`); on the command line
    they read as the flags that set them (--threshold, --detector-reference)."""
    flags = _flags(parser)

    def flag(match: re.Match) -> str:
        name = match.group(1)
        return flags.get(name) or flags.get(name.rsplit(".", 1)[-1]) or match.group(0)

    return re.sub(r"`([a-z_][a-z0-9_.]*)`", flag, message)


def error_text(exc: Exception, parser: argparse.ArgumentParser) -> str:
    """A HygieneError's message for this command: settings named as its flags, and the flag that changes the
    setting the error is about (``exc.setting``) when the command has one. The core says what is wrong, the
    CLI how to change it."""
    text = flags_for(str(exc), parser)
    setting = getattr(exc, "setting", None) or ""
    flags = _flags(parser)
    flag = flags.get(setting) or flags.get(setting.rsplit(".", 1)[-1])
    return f"{text}; use {flag}" if flag and flag not in text else text


def check_output(path: Path, *, overwrite: bool, directory: bool = False) -> None:
    """Before any scoring: the file (or model directory) a command writes may be written. An existing one is
    replaced only with --overwrite, and a directory holding other files is never written into."""
    from hygiene.errors import RunError

    if not path.exists():
        return
    if path.is_dir() != directory:
        want = "a directory" if directory else "a file"
        raise RunError(f"{path} exists and is not {want}", setting="out")
    if directory and any(path.iterdir()) and not (path / "detector.json").is_file():
        raise RunError(f"{path} is not empty and holds no trained detector (no detector.json); choose an empty or "
                       "new directory")
    if not overwrite and (not directory or any(path.iterdir())):
        raise RunError(f"{path} already exists", setting="overwrite")


def add_overwrite_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--overwrite", action="store_true", help=f"replace {what} already at --out")
