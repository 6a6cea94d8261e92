"""The output directory's dataset card: a README.md that Hugging Face `datasets` and the Hub read.

Its YAML header names one config per output folder that holds files (kept, removed, scored, quarantine;
kept first, the default), so ``datasets.load_dataset(OUT, "removed")`` loads exactly that folder: the
folders differ in columns, and one config over all of them cannot load. Below it, a short summary for a
person: what the run did, how many rows went where, and where the report and manifest are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hygiene.io import columns as C
from hygiene.io.atomic import atomic_path
from hygiene.io.sinks import output_suffix

__all__ = ["write_card", "card_configs"]

_FOLDERS = {
    C.KEPT_DIR: "rows to train on, with their original columns",
    C.REMOVED_DIR: "removed rows with the `hygiene_*` columns saying why (`hygiene_reason`)",
    C.SCORED_DIR: "every readable row with its `hygiene_*` scores; nothing removed",
    C.QUARANTINE_DIR: "records that could not be read or scored: the error and the original record "
                      "(`hygiene_raw`)",
}


def card_configs(out: Path, fmt: str) -> dict[str, str]:
    """{config name: data-files pattern} for each output folder that holds at least one file."""
    suffix = output_suffix(fmt)
    configs = {}
    for folder in _FOLDERS:
        if any(p.is_file() for p in (out / folder).rglob(f"*{suffix}")):
            configs[folder] = f"{folder}/**/*{suffix}"
    return configs


def _yaml(configs: dict[str, str]) -> str:
    if not configs:  # no rows anywhere: nothing to load, no header
        return ""
    lines = ["---", "configs:"]
    for i, (name, pattern) in enumerate(configs.items()):
        lines += [f"- config_name: {name}", "  data_files:", "  - split: train", f"    path: {json.dumps(pattern)}"]
        if i == 0:
            lines.append("  default: true")
    return "\n".join([*lines, "---", ""])


def _summary(manifest: dict[str, Any], configs: dict[str, str]) -> str:
    counts = manifest["counts"]
    fmt = manifest["config"]["output_format"]
    command = manifest["command"]
    lines = ["# Cleaned corpus" if command == "clean" else "# Scored corpus", "",
             f"Written by `hygiene {command}` ({manifest['tool']}) on {manifest['finished']}, from "
             f"{len(manifest['inputs'])} input shard(s) holding {counts['rows']:,} rows.", ""]
    rows = {C.KEPT_DIR: counts.get("kept", 0), C.REMOVED_DIR: counts.get("removed", 0),
            C.SCORED_DIR: counts.get("scored", 0), C.QUARANTINE_DIR: counts.get("quarantined", 0)}
    lines += ["| config | rows | what |", "|---|---:|---|"]
    for name in configs:
        lines.append(f"| `{name}` | {rows[name]:,} | {_FOLDERS[name]} |")
    if command == "clean":
        reasons = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts["removed_by_reason"].items())
        lines += ["", f"Removed by reason: {reasons}."]
    lines += ["", "```python", "from datasets import load_dataset", "",
              f'kept = load_dataset("path/to/this/folder", "{next(iter(configs), C.KEPT_DIR)}", split="train")',
              "```", "",
              f"Files are {fmt}; a shard whose part has no rows has no file, and each file keeps its input's path "
              f"(in/a/b/x.jsonl -> kept/a/b/x{output_suffix(fmt)}). kept + removed + quarantined rows equal the "
              "input rows."]
    if fmt != "parquet":
        lines.append("In JSON Lines files binary values (`hygiene_raw`) are base64 text.")
    lines += ["", f"Details: [{C.REPORT_HTML}]({C.REPORT_HTML}) (for people), [{C.MANIFEST}]({C.MANIFEST}) "
              "(inputs and their hashes, settings, threshold, model, counts, timings).", ""]
    return "\n".join(lines)


def write_card(out: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """Write OUT/README.md for the run `manifest` describes; returns its configs (name -> files pattern)."""
    configs = card_configs(out, manifest["config"]["output_format"])
    with atomic_path(out / C.DATASET_CARD) as tmp:
        tmp.write_text(_yaml(configs) + "\n" + _summary(manifest, configs), encoding="utf-8")
    return configs
