"""MinHash signatures on disk: one row-major uint32 file, appended in row order, read back by row.

Verification needs the signatures of arbitrary candidate pairs, so they live in a flat file that
can be read at any row. Reads map the file in slices of ``GATHER_ROWS`` rows and unmap each slice
after copying it out, so the pages a read touches never pile up in the process's memory: resident
memory stays bounded by one slice, not by the corpus.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

__all__ = ["GATHER_ROWS", "SignatureFile"]

# Rows read per mapping. A page fault may map up to 64 KiB of cached file around it (fault-around),
# so one mapping holds at most ~GATHER_ROWS * 64 KiB = 64 MiB resident.
GATHER_ROWS = 1024


class SignatureFile:
    """Append-only (N, num_perm) uint32 matrix in ``path``; row r is the r-th appended signature."""

    def __init__(self, path: Path, num_perm: int):
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        self.path = Path(path)
        self.num_perm = num_perm
        self._row_bytes = 4 * num_perm
        self.path.touch(exist_ok=True)

    def __len__(self) -> int:
        size = self.path.stat().st_size
        if size % self._row_bytes:
            raise ValueError(f"{self.path}: size {size} is not a whole number of {self.num_perm}-value rows")
        return size // self._row_bytes

    def append(self, signatures: np.ndarray) -> None:
        sig = np.ascontiguousarray(signatures, dtype=np.uint32)
        if sig.ndim != 2 or sig.shape[1] != self.num_perm:
            raise ValueError(f"signatures must have shape (n, {self.num_perm}), got {sig.shape}")
        with self.path.open("ab") as f:
            sig.tofile(f)

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """Signatures of ``rows`` (any order, repeats allowed), shape (len(rows), num_perm)."""
        want = np.asarray(rows, dtype=np.int64)
        n = len(self)
        if len(want) and (want.min() < 0 or want.max() >= n):
            raise ValueError(f"rows must be in [0, {n}), got [{want.min()}, {want.max()}]")
        out = np.empty((len(want), self.num_perm), dtype=np.uint32)
        if not len(want):
            return out
        order = np.argsort(want, kind="stable")  # sorted reads walk the file forwards
        for start in range(0, len(order), GATHER_ROWS):
            idx = order[start : start + GATHER_ROWS]
            lo, hi = int(want[idx[0]]), int(want[idx[-1]]) + 1
            out[idx] = self._read_span(lo, hi)[want[idx] - lo]
        return out

    def _read_span(self, lo: int, hi: int) -> np.ndarray:
        """Rows [lo, hi) as a read-only view of a fresh mapping (unmapped once the view is freed)."""
        page = mmap.ALLOCATIONGRANULARITY
        start = lo * self._row_bytes
        offset = start - start % page
        length = hi * self._row_bytes - offset
        with self.path.open("rb") as f:
            mapped = mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ, offset=offset)
        if hasattr(mapped, "madvise"):
            mapped.madvise(mmap.MADV_RANDOM)  # candidate rows are scattered: no read-ahead
        flat = np.frombuffer(mapped, dtype=np.uint32, count=(length - (start - offset)) // 4, offset=start - offset)
        return flat.reshape(hi - lo, self.num_perm)
