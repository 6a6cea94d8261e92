"""A job's output files: what they say of server paths, list them, resolve one for download (confined to the
job's directory), remove them all when the job is deleted.

Only what the run publishes is listed: files under hidden directories (the pipeline's `.work/`) and
hidden or temporary files are left out, and cannot be downloaded. What is published names the server's
files as a client does (relative to their data root): a job writes its manifest, reports, dataset card
and quarantine's source column through `public_report`, and `/report` passes what it reads through it too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hygiene.errors import HygieneError

from .security import public_value

__all__ = ["OutputFile", "OutputError", "public_report", "list_outputs", "resolve_output", "remove_outputs",
           "sweep_deleted"]

_CORPUS_TEXT = frozenset({"removed_examples"})  # the corpus's own text (excerpts, ids): shown as it is

_DELETED = ".deleted-"  # prefix of a job directory on its way out


class OutputError(HygieneError, ValueError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OutputFile:
    path: str  # relative to the job directory, '/'-separated
    bytes: int


def public_report(value: Any, roots: Sequence[Path]) -> Any:
    """A job's report (a manifest, a risk assessment, or one path of it) as a client sees it: `public_value`
    (server paths relative to their root) over everything but the corpus's own text, which is left intact."""
    if isinstance(value, dict):
        return {k: v if k in _CORPUS_TEXT else public_report(v, roots) for k, v in value.items()}
    if isinstance(value, list):
        return [public_report(v, roots) for v in value]
    return public_value(value, roots)


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p.endswith(".tmp") for p in parts)


def list_outputs(out: Path) -> list[OutputFile]:
    """The published files under `out`, sorted by path."""
    if not out.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(out):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(out)
            if _hidden(rel.parts) or not path.is_file() or path.is_symlink():
                continue
            found.append(OutputFile(rel.as_posix(), path.stat().st_size))
    return sorted(found, key=lambda f: f.path)


def resolve_output(out: Path, raw: str) -> Path:
    """The file `raw` names under `out`: 403 for anything that could leave the directory or names a hidden
    file, 404 when it does not exist."""
    rel = PurePosixPath(raw)
    if not raw or "\x00" in raw or "\\" in raw or rel.is_absolute() or ".." in rel.parts or _hidden(rel.parts):
        raise OutputError(f"not an output path: {raw[:200]!r} (a path relative to the job directory, as listed)",
                          403)
    root = out.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):  # a symlink that leads out
        raise OutputError(f"not an output path: {raw[:200]!r}", 403)
    if not path.is_file():
        raise OutputError(f"no output file {raw[:200]!r}", 404)
    return path


def remove_outputs(out: Path, output_root: Path) -> None:
    """Remove a job directory: renamed aside first (gone from view at once), then deleted. Refuses any
    directory that is not directly under `output_root` (the store's `out` is data, not trusted code)."""
    root, target = output_root.resolve(), out.resolve()
    if target.parent != root or target.name.startswith("."):
        raise OutputError(f"refusing to remove {out}: not a job directory under {output_root}", 403)
    if not target.exists():
        return
    doomed = root / f"{_DELETED}{target.name}"
    os.rename(target, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def sweep_deleted(output_root: Path) -> None:
    """At start-up: finish removals a crash interrupted."""
    if output_root.is_dir():
        for path in output_root.glob(f"{_DELETED}*"):
            shutil.rmtree(path, ignore_errors=True)
