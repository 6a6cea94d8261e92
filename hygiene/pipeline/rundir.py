"""Output-directory ownership: which directories a run may write into, and which files there are its own.

A run marks its output directory with ``.work/run.json``, a file only this tool writes, holding a format tag,
the job's fingerprint and the names of its shards. Only a directory that is new, empty or marked is used:

- marked, finished (``manifest.json`` beside the marker): refused unless overwriting is asked for;
- marked, unfinished, same job: resumed, after removing the temporary files a killed process left;
- marked, unfinished, another job: refused unless overwriting is asked for (or it has written nothing yet);
- anything else that is not empty (a stray ``manifest.json`` included): refused, even when overwriting.

A marker an older version wrote (a fingerprint, no format tag) still counts; its shards are the ones its
work folder names.

Overwriting removes only what the marked run wrote: its shards' files under ``kept/``, ``removed/``,
``scored/`` and ``quarantine/``, ``manifest.json``, ``report.html``, their temporary files, and the hidden
work folder (created by the run, holding nothing else). A file a user put there stays, and so do the
folders that still hold one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hygiene.errors import RunError
from hygiene.io import columns as C
from hygiene.io.atomic import stale_temporaries, temporaries, write_json

__all__ = ["FORMAT", "prepare", "read_marker", "owned_files", "remove_run"]

FORMAT = "corpus-hygiene-run/1"
SHARD_DIRS = (C.KEPT_DIR, C.REMOVED_DIR, C.SCORED_DIR, C.QUARANTINE_DIR)  # one <shard>.parquet each
RUN_FILES = (C.MANIFEST, C.REPORT_HTML)


def _marker(out: Path) -> Path:
    return out / C.WORK_DIR / C.RUN_MARKER


def read_marker(out: Path) -> dict[str, Any] | None:
    """The run marker of `out`, or None when `out` holds no run of this tool (of a format this version reads)."""
    try:
        marker = json.loads(_marker(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict):
        return None
    if "format" not in marker and isinstance(marker.get("fingerprint"), str):  # written before the format tag
        work = out / C.WORK_DIR
        names = {p.stem for p in [*(work / "signals").glob("*.parquet"), *(work / "routed").glob("*.json")]}
        return {**marker, "format": FORMAT, "shards": sorted(names)}
    if marker.get("format") != FORMAT or not isinstance(marker.get("shards"), list):
        return None
    return marker


def owned_files(out: Path, marker: dict[str, Any]) -> list[Path]:
    """Files of the marked run that exist, outside the work folder: its outputs and their temporary files."""
    files = [out / name for name in RUN_FILES]
    files += [out / folder / f"{shard}.parquet" for folder in SHARD_DIRS for shard in marker["shards"]]
    found = [p for p in files if p.is_file()]
    for folder in (out, *(out / d for d in SHARD_DIRS)):
        found += temporaries(folder, {p.name for p in files if p.parent == folder})
    return found


def remove_run(out: Path, marker: dict[str, Any]) -> None:
    """Remove what the marked run wrote; folders are removed only when that leaves them empty."""
    for path in owned_files(out, marker):
        path.unlink(missing_ok=True)
    shutil.rmtree(out / C.WORK_DIR, ignore_errors=True)
    for folder in SHARD_DIRS:
        try:
            (out / folder).rmdir()
        except OSError:  # absent, or still holding someone's files
            pass


def _has_written(out: Path, marker: dict[str, Any]) -> bool:
    work = [p for p in (out / C.WORK_DIR).iterdir() if p.name != C.RUN_MARKER]
    return bool(work or owned_files(out, marker))


def _start(out: Path, fingerprint: str, shards: Sequence[str]) -> None:
    marker = {"format": FORMAT, "fingerprint": fingerprint, "shards": list(shards),
              "started": datetime.now(UTC).isoformat(timespec="seconds")}
    write_json(_marker(out), marker)


def prepare(out: Path, fingerprint: str, shards: Sequence[str], overwrite: bool) -> bool:
    """Make `out` ready for the job `fingerprint` over `shards` (their names); True when it resumes."""
    if out.exists() and not out.is_dir():
        raise RunError(f"output path exists and is not a directory: {out}")
    if not out.exists() or not any(out.iterdir()):
        _start(out, fingerprint, shards)
        return False
    marker = read_marker(out)
    if marker is None:
        raise RunError(f"{out} is not empty and holds no corpus-hygiene run (no {C.WORK_DIR}/{C.RUN_MARKER}); "
                       "choose an empty or new directory")
    finished = (out / C.MANIFEST).is_file()
    if overwrite:
        remove_run(out, marker)
    elif finished:
        raise RunError(f"{out} already holds a finished run", setting="overwrite")
    elif marker["fingerprint"] == fingerprint:
        _remove_stale(out, marker)
        return True
    elif _has_written(out, marker):
        raise RunError(f"{out} holds an unfinished run of a different job (other inputs or settings); rerun that "
                       "job to resume it, or overwrite it", setting="overwrite")
    _start(out, fingerprint, shards)
    return False


def _remove_stale(out: Path, marker: dict[str, Any]) -> None:
    """Temporary files of processes that died (kill -9, power loss) in this run's folders."""
    names = {f"{s}.parquet" for s in marker["shards"]} | set(RUN_FILES)
    for folder in (out, *(out / d for d in SHARD_DIRS)):
        for path in stale_temporaries(folder, names):
            path.unlink(missing_ok=True)
    work = out / C.WORK_DIR
    for folder in (work, *(p for p in work.rglob("*") if p.is_dir())):
        for path in stale_temporaries(folder):
            path.unlink(missing_ok=True)
