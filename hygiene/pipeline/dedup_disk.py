"""Near dedup as a global step in bounded memory: :class:`~hygiene.dedup.partitioned.DiskDedup` behind the
step contract.

``collect`` streams each batch's signatures into the disk-backed dedup (band keys to partition files,
signatures to a flat file) instead of holding them, so pass 2's memory does not grow with the corpus by
512 bytes per document. The in-memory step clusters only the rows that are not exact copies; here a
row's exact-copy status is known while collecting (its key was seen before, in collection order: exactly
what ``ExactDedup`` decides), so the same rows, in the same order, reach the disk dedup, and where the
cluster cap does not bind the decisions equal :class:`~.dedup.NearDedup`'s.

What stays in memory: the exact keys seen (8 bytes per distinct document), the positions of the rows
that are not copies (8 bytes each) and the union-find over rows with a verified edge.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from .dedup import NearDedup
from .steps import KEY, SIGNATURE

if TYPE_CHECKING:
    from detectors.dedup import DedupConfig, NearDuplicates
    from hygiene.dedup.partitioned import DiskDedup, DiskDedupResult, TaskMap

__all__ = ["DISK_DEDUP_ROWS", "DiskNearDedup", "disk_partitions", "use_disk"]

# From this many rows on, `dedup.engine = "auto"` dedups on disk. Measured (benchmarks/RESULTS.md, "Near-dedup
# at scale"): in memory, 356 MB at 100k documents and 1,160 MB at 1M; on disk ~400 MB at both, for 1.6-2.5x the
# (small) dedup time. At 250k the in-memory signatures alone reach 128 MB.
DISK_DEDUP_ROWS = 250_000


def use_disk(engine: str, rows: int) -> bool:
    """Whether near dedup runs on disk for ``engine`` (memory, disk, auto) over ``rows`` input rows."""
    return engine == "disk" or (engine == "auto" and rows >= DISK_DEDUP_ROWS)


def disk_partitions(rows: int) -> int:
    """Key partitions for ``rows`` documents: ~6 MB of key records each at 25 bands (64 up to 1M rows),
    at most 4,096 files (~100 MB each at 1B documents)."""
    from hygiene.dedup.partitioned import DEFAULT_PARTITIONS

    return int(min(4096, max(DEFAULT_PARTITIONS, rows // 15_625)))


class _SeenKeys:
    """Exact keys seen so far (sorted, unique): which keys of a new batch are copies of an earlier row."""

    def __init__(self) -> None:
        self._sorted = np.zeros(0, np.uint64)

    def copies(self, keys: np.ndarray) -> np.ndarray:
        from detectors.dedup import exact_duplicates

        keys = np.asarray(keys, dtype=np.uint64)
        copy = exact_duplicates(keys) >= 0  # an earlier row of the same batch
        if len(self._sorted):
            at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
            copy |= self._sorted[at] == keys
        self._sorted = np.union1d(self._sorted, keys[~copy])
        return copy


class DiskNearDedup(NearDedup):
    """:class:`~.dedup.NearDedup` with its signatures and LSH stages on disk under ``work_dir`` (emptied first).

    ``exact``: exact dedup runs before this step (batches carry ``exact_key``), so exact copies are left
    out as the in-memory step leaves them out. ``max_cluster`` caps clusters (chains of near-duplicates);
    None: no cap. ``map_tasks`` runs the candidate and verify stages per partition (None: here, in turn).
    """

    def __init__(self, config: DedupConfig, work_dir: Path, *, exact: bool, partitions: int | None = None,
                 max_cluster: int | None = None, map_tasks: TaskMap | None = None) -> None:
        from hygiene.dedup.partitioned import DEFAULT_MAX_CLUSTER, DEFAULT_PARTITIONS

        super().__init__(config)
        self.work_dir, self.exact = Path(work_dir), exact
        self.partitions = partitions or DEFAULT_PARTITIONS
        self.max_cluster = DEFAULT_MAX_CLUSTER if max_cluster is None else max_cluster
        self.map_tasks = map_tasks
        self._disk: DiskDedup | None = None
        self._seen = _SeenKeys() if exact else None
        self._unique: list[np.ndarray] = []  # positions (in collection order) of the rows sent to disk
        self._rows = 0
        self.result: DiskDedupResult | None = None

    def _dedup(self) -> DiskDedup:
        if self._disk is None:
            from hygiene.dedup.partitioned import DiskDedup

            shutil.rmtree(self.work_dir, ignore_errors=True)  # a rerun of pass 2 starts afresh
            self._disk = DiskDedup(self.work_dir, self.config, partitions=self.partitions,
                                   max_cluster=self.max_cluster, map_tasks=self.map_tasks)
        return self._disk

    def collect(self, batch: pa.Table) -> None:
        n = batch.num_rows
        copy = self._seen.copies(batch.column(KEY).to_numpy(zero_copy_only=False)) if self._seen else np.zeros(n, bool)
        column = batch.column(SIGNATURE).combine_chunks()
        signatures = column.flatten().to_numpy(zero_copy_only=False).reshape(n, self.config.minhash.num_perm)
        self._dedup().add(signatures[~copy])
        self._unique.append(self._rows + np.flatnonzero(~copy))
        self._rows += n

    def near_duplicates(self, unique: np.ndarray, n: int) -> NearDuplicates:
        collected = np.concatenate(self._unique) if self._unique else np.zeros(0, np.int64)
        if self._rows != n:
            raise ValueError(f"collected {self._rows} signatures for {n} rows")
        if not np.array_equal(collected, unique):
            raise ValueError("the rows left out as exact copies while collecting differ from the exact-dedup step's")
        self.result = self._dedup().run()
        near = self.result.to_near_duplicates()
        shutil.rmtree(self.work_dir, ignore_errors=True)  # signatures and edges: 512+ bytes per document
        return near
