"""Uploaded shards: UPLOADS_DIR/<id>/<file name>, usable as job inputs like any shard under a data root.

An upload streams to disk in a partial directory beside UPLOADS_DIR (never whole in memory, refused
past the shard-size limit), is checked as every job input is (hygiene.io.shards: format, readable, text
column) and, beyond that, read to its end (every parquet page, the whole gzip stream), so a file cut or
damaged in transit is refused rather than partly processed later. It then appears under its id with one
directory rename: a listed upload is always complete, and a failed or oversized one leaves nothing
behind. Partial directories a crash left are removed at start-up. UPLOADS_DIR is an implicit data root,
so `<id>` or `<id>/<file name>` work as job inputs.

The body must be sent with a file content type (:data:`CONTENT_TYPES`). Those are not ones a web page
may send cross-origin without asking first, so a page a user visits cannot upload into a loopback server
that needs no token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from hygiene.errors import HygieneError
from hygiene.io.atomic import write_json
from hygiene.io.shards import SHARD_SUFFIXES, ShardError, count_rows, open_shards, unreadable

__all__ = ["Upload", "UploadError", "UploadStore", "check_filename", "check_content_type", "UPLOAD_ID",
           "CONTENT_TYPES"]

CONTENT_TYPES = ("application/octet-stream", "application/vnd.apache.parquet", "application/x-parquet",
                 "application/jsonl", "application/x-ndjson", "application/json", "application/gzip",
                 "application/x-gzip")

UPLOAD_ID = r"^[0-9a-f]{32}$"
_META = "upload.json"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ -]{0,199}$")  # one plain file name: no separators, no leading dot


class UploadError(HygieneError, ValueError):
    def __init__(self, message: str, status: int = 422, code: str = "invalid_upload") -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Upload:
    id: str
    filename: str
    format: str
    bytes: int
    sha256: str
    rows: int
    created: str

    @property
    def path(self) -> str:
        """The job input that names this upload (relative to the uploads root)."""
        return f"{self.id}/{self.filename}"


def check_filename(name: str) -> str:
    """The name as given when it is one plain shard file name; UploadError (422) otherwise."""
    if not _NAME.match(name) or ".." in name:
        raise UploadError(f"invalid file name {name[:200]!r}: give a plain file name (letters, digits, '.', '_', "
                          "'-', space; no path components, no leading dot)", code="bad_filename")
    if not name.lower().endswith(SHARD_SUFFIXES):
        raise UploadError(f"unsupported shard format: {name!r} (expected {', '.join(SHARD_SUFFIXES)})",
                          code="unsupported_format")
    return name


def check_content_type(value: str | None) -> None:
    """Refuse (415) a body not sent as a file: no content type, a form, text, or anything unlisted."""
    media = (value or "").partition(";")[0].strip().lower()
    if media not in CONTENT_TYPES:
        shown = f"content type {media!r}" if media else "no content type"
        raise UploadError(f"{shown}: send the file itself as the body with one of {', '.join(CONTENT_TYPES)} "
                          "(curl -H 'Content-Type: application/octet-stream' --data-binary @FILE)", 415,
                          "unsupported_media_type")


class UploadStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = root, max_bytes
        self.partial = root.with_name(root.name + ".partial")  # same filesystem: the final rename is atomic

    def open(self) -> None:
        """Create the directories and drop partial uploads a previous process left."""
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True, exist_ok=True)

    async def receive(self, filename: str, chunks: AsyncIterator[bytes], text_column: str) -> Upload:
        """Stream `chunks` into a new upload named `filename`; checked, then published by one rename."""
        check_filename(filename)
        upload_id = uuid.uuid4().hex
        work = self.partial / upload_id
        work.mkdir(parents=True)
        digest, size = hashlib.sha256(), 0
        try:
            with open(work / filename, "wb") as f:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadError(f"upload exceeds the shard-size limit of {self.max_bytes} bytes",
                                          413, "too_large")
                    digest.update(chunk)
                    f.write(chunk)
            if size == 0:
                raise UploadError("empty upload: send the file as the request body", code="empty_upload")
            return await asyncio.to_thread(self._publish, work, filename, size, digest.hexdigest(), text_column)
        finally:
            shutil.rmtree(work, ignore_errors=True)  # gone already when published

    def _publish(self, work: Path, filename: str, size: int, sha256: str, text_column: str) -> Upload:
        path = work / filename
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
        try:
            shard = open_shards([path], text_column)[0]  # the same checks as any job input
            problems = unreadable(shard)
            rows = count_rows(shard)
        except (ShardError, ValueError, OSError) as exc:  # ValueError: pyarrow's ArrowInvalid
            message = str(exc).replace(str(work) + os.sep, "")  # no server paths in the answer
            raise UploadError(f"not a usable shard: {message}", code="invalid_shard") from exc
        if problems:
            raise UploadError(f"{filename} is damaged (cut short or corrupt in transit?): {'; '.join(problems[:5])}",
                              code="damaged_shard")
        upload = Upload(id=work.name, filename=filename, format=shard.format, bytes=size, sha256=sha256, rows=rows,
                        created=datetime.now(UTC).isoformat(timespec="milliseconds"))
        write_json(work / _META, asdict(upload))
        os.rename(work, self.root / upload.id)
        return upload

    def get(self, upload_id: str) -> Upload | None:
        if not re.match(UPLOAD_ID, upload_id):
            return None
        try:
            return Upload(**json.loads((self.root / upload_id / _META).read_text()))
        except FileNotFoundError:
            return None

    def list(self) -> list[Upload]:
        """Uploads, newest first."""
        found = (self.get(p.name) for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else ()
        return sorted((u for u in found if u is not None), key=lambda u: (u.created, u.id), reverse=True)

    def location(self, upload_id: str) -> Path:
        return (self.root / upload_id).resolve()

    def delete(self, upload_id: str) -> None:
        """Unlist at once (rename into the partial directory), then remove the files."""
        doomed = self.partial / f"{upload_id}.deleted"
        os.rename(self.root / upload_id, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
