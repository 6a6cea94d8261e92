"""Output-directory ownership: which directories a run may write into, and which files there are its own.

A run marks its output directory with ``.work/run.json``, a file only this tool writes, holding a format tag,
the job's fingerprint and the names of its shards. Only a directory that is new, empty or marked is used:

- marked, finished (``manifest.json`` beside the marker): refused unless overwriting is asked for;
- marked, unfinished, same job: resumed, after removing the temporary files a killed process left;
- marked, unfinished, another job: refused unless overwriting is asked for (or it has written nothing yet);
- anything else that is not empty (a stray ``manifest.json`` included): refused, even when overwriting.

A marker an older version wrote (a fingerprint, no format tag) still counts; its shards are the ones its
work folder names. A finished run copies its marker into ``manifest.json`` (key ``run``) and then removes
the work folder (:func:`remove_work`, unless asked to keep it): such a manifest marks the directory too.

Overwriting removes only what the marked run wrote: its shards' files under ``kept/``, ``removed/``,
``scored/`` and ``quarantine/`` (in any output format, in the folders of their input paths),
``manifest.json``, ``report.html``, the dataset card ``README.md``, their temporary files, and the hidden
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
from hygiene.io.sinks import OUTPUT_FORMATS, output_path

__all__ = ["FORMAT", "prepare", "read_marker", "owned_files", "remove_run", "remove_work"]

FORMAT = C.RUN_FORMAT
SHARD_DIRS = (C.KEPT_DIR, C.REMOVED_DIR, C.SCORED_DIR, C.QUARANTINE_DIR)  # one <shard>.<format> each, if any rows
RUN_FILES = (C.MANIFEST, C.REPORT_HTML, C.DATASET_CARD)


def _marker(out: Path) -> Path:
    return out / C.WORK_DIR / C.RUN_MARKER


def read_marker(out: Path) -> dict[str, Any] | None:
    """The run marker of `out`, or None when `out` holds no run of this tool (of a format this version reads)."""
    try:
        marker = json.loads(_marker(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = _finished_marker(out)
    if not isinstance(marker, dict):
        return None
    if "format" not in marker and isinstance(marker.get("fingerprint"), str):  # written before the format tag
        work = out / C.WORK_DIR
        names = {p.stem for p in [*(work / "signals").glob("*.parquet"), *(work / "routed").glob("*.json")]}
        return {**marker, "format": FORMAT, "shards": sorted(names)}
    if marker.get("format") != FORMAT or not isinstance(marker.get("shards"), list):
        return None
    return marker


def _finished_marker(out: Path) -> Any:
    """The marker a finished run copied into its manifest (None when there is none)."""
    try:
        manifest = json.loads((out / C.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest.get("run") if isinstance(manifest, dict) else None


def _candidates(out: Path, marker: dict[str, Any]) -> list[Path]:
    """Every file name the marked run may have written outside the work folder (existing or not)."""
    files = [out / name for name in RUN_FILES]
    files += [output_path(out / folder, str(shard), fmt)
              for folder in SHARD_DIRS for shard in marker["shards"] for fmt in OUTPUT_FORMATS]
    return files


def _shard_folders(out: Path) -> list[Path]:
    """The shard folders and every folder under them, deepest first."""
    found = [p for d in SHARD_DIRS if (out / d).is_dir() for p in (out / d).rglob("*") if p.is_dir()]
    return sorted(found, key=lambda p: len(p.parts), reverse=True) + [out / d for d in SHARD_DIRS]


def owned_files(out: Path, marker: dict[str, Any]) -> list[Path]:
    """Files of the marked run that exist, outside the work folder: its outputs and their temporary files."""
    files = _candidates(out, marker)
    found = [p for p in files if p.is_file()]
    names: dict[Path, set[str]] = {}
    for p in files:
        names.setdefault(p.parent, set()).add(p.name)
    for folder, owned in names.items():
        found += temporaries(folder, owned)
    return found


def remove_run(out: Path, marker: dict[str, Any]) -> None:
    """Remove what the marked run wrote; folders are removed only when that leaves them empty."""
    for path in owned_files(out, marker):
        path.unlink(missing_ok=True)
    remove_work(out)
    for folder in _shard_folders(out):
        try:
            folder.rmdir()
        except OSError:  # absent, or still holding someone's files
            pass


def remove_work(out: Path) -> None:
    """Remove the work folder (signals, markers): what a finished run no longer needs."""
    shutil.rmtree(out / C.WORK_DIR, ignore_errors=True)


def _has_written(out: Path, marker: dict[str, Any]) -> bool:
    work = out / C.WORK_DIR
    written = [p for p in work.iterdir() if p.name != C.RUN_MARKER] if work.is_dir() else []
    return bool(written or owned_files(out, marker))


def _start(out: Path, fingerprint: str, shards: Sequence[str]) -> None:
    marker = {"format": FORMAT, "fingerprint": fingerprint, "shards": list(shards),
              "started": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        write_json(_marker(out), marker)
    except OSError as exc:  # a parent that is a file, no permission, a read-only or virtual file system
        raise RunError(f"cannot create the output directory {out}: {exc.strerror or exc}", setting="out") from exc


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
    names: dict[Path, set[str]] = {}
    for p in _candidates(out, marker):
        names.setdefault(p.parent, set()).add(p.name)
    for folder, owned in names.items():
        for path in stale_temporaries(folder, owned):
            path.unlink(missing_ok=True)
    work = out / C.WORK_DIR
    for folder in (work, *(p for p in work.rglob("*") if p.is_dir())):
        for path in stale_temporaries(folder):
            path.unlink(missing_ok=True)
