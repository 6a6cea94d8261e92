"""Bearer-token checks, confinement of client-given paths to the configured data roots, and the reverse:
server paths shown to a client only relative to the root they lie under."""

from __future__ import annotations

import errno
import hmac
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hygiene.errors import HygieneError
from hygiene.io.shards import discover

__all__ = ["PathError", "token_matches", "resolve_under_roots", "resolve_inputs", "require_file", "recheck",
           "public_path", "public_text", "public_value"]


class PathError(HygieneError, ValueError):
    """A client-given path is not usable; `status` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def token_matches(expected: str, authorization: str | None) -> bool:
    """True when the Authorization header is `Bearer <expected>` (constant-time comparison)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _real(path: Path) -> Path:
    """`path` with symlinks followed and `..` collapsed. Unlike Path.resolve on Python 3.11 it never raises: a
    symlink loop is left unresolved (confinement is then checked on the loop's own path)."""
    return Path(os.path.realpath(path))


def _loops(path: Path) -> bool:
    try:
        path.stat()
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def require_file(path: Path, shown: str) -> None:
    """Refuse (422) anything but a regular file: opening a FIFO blocks until a writer comes, a device or socket
    is no shard. Only stats the path, so it never blocks itself."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise PathError(f"cannot read {shown}: {exc.strerror or exc}", 404 if exc.errno == errno.ENOENT else 422) \
            from exc
    if not stat.S_ISREG(mode):
        raise PathError(f"{shown} is not a regular file (a FIFO, device or socket cannot be read)", 422)


def resolve_under_roots(raw: str, roots: Sequence[Path]) -> Path:
    """The real path of `raw` (absolute, or relative to a root), refused unless it lies under a root.

    Symlinks are followed before the check, so a link inside a root that points outside is refused;
    `..` is resolved the same way. Existence is checked only after confinement, so the answer never
    tells a client whether a path outside the roots exists (nor whether it is a symlink loop).
    """
    if not roots:
        raise PathError("this server has no data roots configured; it cannot read shards by path", 403)
    if not raw or "\x00" in raw:
        raise PathError("empty path or NUL byte in path", 400)
    real_roots = [_real(Path(r)) for r in roots]
    given = Path(raw)
    candidates = [given] if given.is_absolute() else [root / given for root in real_roots]
    looped = False
    for candidate in candidates:
        real = _real(candidate)  # follows symlinks, collapses ..
        if not _inside(real, real_roots):
            continue
        if real.exists():
            return real
        looped = looped or _loops(real)  # told only for a path under a root
    if looped:
        raise PathError(f"symlink loop: {raw} (its links lead back to themselves)", 422)
    if all(_inside(_real(c), real_roots) for c in candidates):  # with several roots, one escape is enough
        raise PathError(f"not found under the data roots: {raw}", 404)
    raise PathError(f"path is outside the configured data roots: {raw}", 403)


def resolve_inputs(raws: Sequence[str], roots: Sequence[Path], max_shard_bytes: int) -> list[Path]:
    """Resolve job inputs; directories are expanded and every shard inside is checked again.

    Returns the real paths of the shard files, in the order discovery found them.
    """
    real_roots = [_real(Path(r)) for r in roots]
    paths = [resolve_under_roots(raw, roots) for raw in raws]
    files: list[Path] = []
    for shard in discover(paths):
        real = _real(shard.path)
        if not _inside(real, real_roots):  # a symlink inside a given directory that leads out
            raise PathError(f"shard {shard.path} links outside the configured data roots", 403)
        require_file(real, f"shard {shard.path}")
        size = real.stat().st_size
        if size > max_shard_bytes:
            raise PathError(f"shard {shard.path} is {size} bytes; this server accepts at most {max_shard_bytes}", 413)
        files.append(real)
    return files


def recheck(paths: Sequence[str], roots: Sequence[Path]) -> None:
    """Right before a job reads them: each path it was given (a real path under a root when it was submitted)
    still leads to a regular file under a root. A file swapped for a link out of the roots since is refused."""
    real_roots = [_real(Path(r)) for r in roots]
    for raw in paths:
        real = _real(Path(raw))
        if not _inside(real, real_roots):
            raise PathError(f"{raw} now leads outside the configured data roots (it changed after the job was "
                            "submitted); it was not read", 403)
        require_file(real, raw)


# An absolute path left in a message after the roots are taken out: shown as its last component only.
_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"/:,;()\[\]]+/)+([^\s'\"/:,;()\[\]]*)")


def _prefixes(roots: Sequence[Path]) -> list[str]:
    """Every spelling of each root (as configured and resolved), longest first, with a trailing separator."""
    names = {str(p).rstrip("/") + "/" for root in roots for p in (Path(root), Path(root).resolve())}
    return sorted(names, key=len, reverse=True)


def public_path(path: str, roots: Sequence[Path]) -> str:
    """A server path as a client names it: relative to the root it lies under, else its file name alone."""
    for prefix in _prefixes(roots):
        if path.startswith(prefix):
            return path[len(prefix):] or "."
    return Path(path).name if Path(path).is_absolute() else path


def public_text(text: str, roots: Sequence[Path]) -> str:
    """A message with server paths made relative to their root (any other absolute path cut to its name)."""
    for prefix in _prefixes(roots):
        text = text.replace(prefix, "")
    return _ABSOLUTE.sub(r"\1", text)


def public_value(value: Any, roots: Sequence[Path]) -> Any:
    """`public_text` over every string in a JSON-like value (a job's config, its risk options)."""
    if isinstance(value, str):
        return public_text(value, roots)
    if isinstance(value, list):
        return [public_value(v, roots) for v in value]
    if isinstance(value, dict):
        return {k: public_value(v, roots) for k, v in value.items()}
    return value
