"""Global near-duplicate detection in bounded memory: the LSH stages as partitioned files on disk.

Four stages, each reading one partition at a time, so memory is what one partition needs (plus
the union-find over rows that have a verified edge, see ``components``), not what the corpus needs:

1. ``add``: signatures are appended to a row-major file (``signatures``), and each band key, as a
   (key, row) record, to one of P key partitions chosen by the key (keys are hashes already).
2. candidates (``write_candidates``): per key partition, rows with equal keys give candidate pairs
   (the same bucket cap as the in-memory ``candidate_pairs``), written to one file per key partition
   ordered by pair partition (the row block of the pair's first row), with the bounds of each.
3. verify (``write_edges``): per pair partition, its slice of every key partition's file, so the
   same pair found in several bands meets itself there; repeated pairs dropped, the estimated Jaccard
   computed from the signatures read back, pairs at or above the threshold kept as edges, sorted by (i, j).
4. cluster: the edges, partition after partition, i.e. in global (i, j) order, through a union-find
   with a cluster-size cap; each duplicate's similarity to its representative is read back.

The output, ``duplicates.parquet``, lists only the rows that are not kept (row, duplicate_of,
similarity). Where no cap binds it equals ``detectors.dedup.find_near_duplicates`` on the same
signatures (two different bands sharing a 64-bit key, p ~ 2^-64, is the one way they could differ).
Stages 2 and 3 are plain functions of their partitions that write only their own files: ``map_tasks``
runs them (one after another here by default; the Ray engine runs them as tasks, the partition files being
the shuffle). Stage 4 stays in one process.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from detectors.dedup import DedupConfig, NearDuplicates, estimated_jaccard, verify
from detectors.lsh import band_keys, bucket_pairs
from hygiene.dedup.components import CappedUnionFind
from hygiene.dedup.signatures import SignatureFile
from hygiene.errors import HygieneError
from hygiene.io.atomic import atomic_path, write_json

__all__ = [
    "DEFAULT_MAX_CLUSTER",
    "DEFAULT_PARTITIONS",
    "DedupWorkDirError",
    "DiskDedup",
    "DiskDedupResult",
    "TaskMap",
    "candidates_of_partition",
    "map_locally",
    "verify_partition",
    "write_candidates",
    "write_edges",
]

DEFAULT_PARTITIONS = 64
# Larger clusters are templates or chains; 1,000 copies of one text is already a strong signal.
DEFAULT_MAX_CLUSTER = 1000

# File and column names shared by the stages (the work directory's contract).
SIGNATURES, KEYS, PAIRS, EDGES = "signatures.u32", "keys", "pairs", "edges"
DUPLICATES, MANIFEST = "duplicates.parquet", "manifest.json"
ROW, DUPLICATE_OF, SIMILARITY = "row", "duplicate_of", "similarity"
KEY_RECORD = np.dtype([("key", "<u8"), ("row", "<i8")])
PAIR_RECORD = np.dtype([("i", "<i8"), ("j", "<i8")])
_SIMILARITY_CHUNK = 1 << 16  # (representative, duplicate) pairs read back at once
ROWS_PER_PAIR_PARTITION = 1 << 14

T = TypeVar("T")
# Runs fn(*args) for each args tuple, in any order or in parallel, and returns the results in order.
TaskMap = Callable[[Callable[..., T], Sequence[tuple]], list[T]]


class DedupWorkDirError(HygieneError):
    """The dedup work directory cannot be used (not empty, or not a finished run)."""

    status, code = 409, "work_dir_conflict"


def _part(directory: Path, p: int) -> Path:
    return directory / f"part-{p:05d}.bin"


def _scatter(records: np.ndarray, part_of: np.ndarray, partitions: int) -> Iterator[tuple[int, np.ndarray]]:
    """(partition, records) groups; records keep their order within a group (stable)."""
    order = np.argsort(part_of, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(part_of, minlength=partitions))))
    for p in np.flatnonzero(np.diff(bounds)):
        yield int(p), records[order[bounds[p] : bounds[p + 1]]]


def _append(path: Path, records: np.ndarray) -> None:
    with path.open("ab") as f:
        records.tofile(f)


def candidates_of_partition(records: np.ndarray, max_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (i < j) of one key partition, records in row order (as ``add`` writes them)."""
    n = len(records)
    codes = bucket_pairs(records["key"], max_bucket)
    rows = records["row"]
    i, j = rows[codes // n], rows[codes % n]
    keep = i != j  # one row's keys in two bands collided (p ~ 2^-64): not a pair
    return i[keep], j[keep]


def verify_partition(
    pairs: np.ndarray, signatures: SignatureFile, threshold: float, n_docs: int
) -> tuple[np.ndarray, int]:
    """Unique candidate pairs of one pair partition, verified: ((M, 2) edges sorted by (i, j), candidates)."""
    codes = pairs["i"] * np.int64(n_docs) + pairs["j"]
    codes.sort()
    codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if len(codes) else codes
    i, j = codes // n_docs, codes % n_docs
    rows = np.unique(np.concatenate((i, j)))
    local = np.stack((np.searchsorted(rows, i), np.searchsorted(rows, j)), axis=1)
    kept, _ = verify(local, signatures.gather(rows), threshold)
    return rows[kept], len(codes)


def _bounds(directory: Path, p: int) -> Path:
    return directory / f"part-{p:05d}.bounds.npy"


def write_candidates(work_dir: Path, p: int, max_bucket: int, block: int, pair_partitions: int) -> None:
    """Stage 2 for key partition ``p``: its candidate pairs in one file ordered by pair partition (row block of
    the first row), and the file's bounds per pair partition. Touches only files of ``p``: tasks run in parallel."""
    records = np.fromfile(_part(work_dir / KEYS, p), dtype=KEY_RECORD)
    i, j = candidates_of_partition(records, max_bucket)
    del records
    q = i // block
    order = np.argsort(q, kind="stable")
    pairs = np.empty(len(i), dtype=PAIR_RECORD)
    pairs["i"], pairs["j"] = i[order], j[order]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(q, minlength=pair_partitions)))).astype(np.int64)
    with atomic_path(_part(work_dir / PAIRS, p)) as tmp:
        pairs.tofile(tmp)
    with atomic_path(_bounds(work_dir / PAIRS, p)) as tmp:
        with tmp.open("wb") as f:
            np.save(f, bounds)  # written last: the pairs file is complete when its bounds exist


def write_edges(work_dir: Path, q: int, sources: list[int], num_perm: int, threshold: float,
                n_docs: int) -> tuple[int, int]:
    """Stage 3 for pair partition ``q``: its pairs from every key partition's file, verified; the edges, sorted by
    (i, j), saved as ``edges/part-q.npy``. Returns (unique candidates, verified edges)."""
    parts = []
    for p in sources:
        bounds = np.load(_bounds(work_dir / PAIRS, p))
        lo, hi = int(bounds[q]), int(bounds[q + 1])
        if hi > lo:
            parts.append(np.fromfile(_part(work_dir / PAIRS, p), dtype=PAIR_RECORD, count=hi - lo,
                                     offset=lo * PAIR_RECORD.itemsize))
    if not parts:
        return 0, 0
    signatures = SignatureFile(work_dir / SIGNATURES, num_perm)
    edges, count = verify_partition(np.concatenate(parts), signatures, threshold, n_docs)
    with atomic_path(work_dir / EDGES / f"part-{q:05d}.npy") as tmp:
        with tmp.open("wb") as f:
            np.save(f, edges)
    return count, len(edges)


def map_locally(fn: Callable[..., T], args: Sequence[tuple]) -> list[T]:
    """The default :data:`TaskMap`: the tasks one after another, here."""
    return [fn(*a) for a in args]


@dataclass(frozen=True)
class DiskDedupResult:
    """Where the duplicates are, and the run's statistics."""

    work_dir: Path
    n_docs: int
    n_candidates: int
    n_verified: int
    n_duplicates: int
    refused_unions: int  # unions the cluster cap refused; 0 means the cap never bound
    largest_cluster: int
    max_cluster: int | None
    timings: dict[str, float] = field(default_factory=dict)
    disk_bytes: int = 0  # largest size of the work directory during the run

    @property
    def duplicates_path(self) -> Path:
        return self.work_dir / DUPLICATES

    def read(self) -> pa.Table:
        """The duplicate rows: ROW, DUPLICATE_OF (the kept representative), SIMILARITY, sorted by row."""
        return pq.read_table(self.duplicates_path)

    def to_near_duplicates(self) -> NearDuplicates:
        """Dense per-row arrays like ``find_near_duplicates`` (N entries each: for small corpora and tests)."""
        table = self.read()
        rows = table[ROW].to_numpy()
        reps = table[DUPLICATE_OF].to_numpy()
        cluster = np.arange(self.n_docs, dtype=np.int64)
        cluster[rows] = reps
        similarity = np.ones(self.n_docs, dtype=np.float32)
        similarity[rows] = table[SIMILARITY].to_numpy()
        duplicate_of = np.where(cluster == np.arange(self.n_docs), -1, cluster)
        return NearDuplicates(cluster, duplicate_of, similarity, self.n_candidates, self.n_verified)

    @classmethod
    def load(cls, work_dir: Path) -> DiskDedupResult:
        """The result of a finished run in ``work_dir``."""
        path = Path(work_dir) / MANIFEST
        if not path.exists() or not (Path(work_dir) / DUPLICATES).exists():
            raise DedupWorkDirError(f"{work_dir} holds no finished dedup run (no {MANIFEST} or {DUPLICATES})")
        data = json.loads(path.read_text())["result"]
        return cls(**{**data, "work_dir": Path(work_dir)})


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class DiskDedup:
    """Near-duplicates of a corpus too large for memory: ``add`` signature batches, then ``run``.

    Rows are numbered in the order they are added; a cluster keeps its smallest row. Memory per
    stage is about one partition: N * bands * 16 / partitions bytes of key records while finding
    candidates (6 MB for 1M documents at the defaults: raise ``partitions`` with the corpus), and
    while verifying, the candidate pairs whose first row is in one block of at most
    ``ROWS_PER_PAIR_PARTITION`` rows, with their signatures.
    """

    def __init__(
        self,
        work_dir: Path,
        config: DedupConfig | None = None,
        *,
        partitions: int = DEFAULT_PARTITIONS,
        max_cluster: int | None = DEFAULT_MAX_CLUSTER,
        keep_intermediate: bool = False,
        map_tasks: TaskMap | None = None,
    ):
        self.config = config or DedupConfig()
        if self.config.verify != "estimated":
            raise ValueError("the disk-backed dedup verifies with signatures only (verify='estimated')")
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
        if max_cluster is not None and (not isinstance(max_cluster, int) or max_cluster < 2):
            raise ValueError(f"max_cluster must be an int >= 2 or None, got {max_cluster!r}")
        self.work_dir = Path(work_dir)
        if self.work_dir.exists() and any(self.work_dir.iterdir()):
            raise DedupWorkDirError(f"dedup work directory {self.work_dir} is not empty")
        for sub in (KEYS, PAIRS, EDGES):
            (self.work_dir / sub).mkdir(parents=True, exist_ok=True)
        self.partitions = partitions
        self.max_cluster = max_cluster
        self.keep_intermediate = keep_intermediate
        self.map_tasks = map_tasks or map_locally
        self._sources: list[int] = []
        self.bands, self.rows = self.config.banding()
        self.signatures = SignatureFile(self.work_dir / SIGNATURES, self.config.minhash.num_perm)
        self.n_docs = 0
        self._timings = {"add": 0.0}

    def add(self, signatures: np.ndarray) -> np.ndarray:
        """Append a batch; returns the rows it was given."""
        t0 = time.perf_counter()
        sig = np.asarray(signatures)
        num_perm = self.config.minhash.num_perm
        if sig.ndim != 2 or sig.shape[1] != num_perm:
            raise ValueError(f"signatures must have shape (n, {num_perm}), got {sig.shape}")
        rows = np.arange(self.n_docs, self.n_docs + len(sig), dtype=np.int64)
        keys = band_keys(sig, self.bands, self.rows).reshape(-1)  # row-major: records stay in row order
        records = np.empty(len(keys), dtype=KEY_RECORD)
        records["key"] = keys
        records["row"] = np.repeat(rows, self.bands)
        for p, group in _scatter(records, (keys % np.uint64(self.partitions)).astype(np.int64), self.partitions):
            _append(_part(self.work_dir / KEYS, p), group)
        self.signatures.append(sig)
        self.n_docs += len(sig)
        self._timings["add"] += time.perf_counter() - t0
        return rows

    def run(self) -> DiskDedupResult:
        """Candidates, verification and clusters; writes duplicates.parquet and manifest.json."""
        if self.n_docs >= 3 << 30:  # pair codes i * N + j must fit in int64
            raise ValueError(f"at most {3 << 30} documents per run, got {self.n_docs}")
        timings = dict(self._timings)
        disk = _dir_bytes(self.work_dir)
        t = time.perf_counter()
        self._find_candidates()
        timings["candidates"] = time.perf_counter() - t
        disk = max(disk, _dir_bytes(self.work_dir))
        if not self.keep_intermediate:
            shutil.rmtree(self.work_dir / KEYS)
        t = time.perf_counter()
        n_candidates, n_verified = self._verify()
        timings["verify"] = time.perf_counter() - t
        disk = max(disk, _dir_bytes(self.work_dir))
        if not self.keep_intermediate:
            shutil.rmtree(self.work_dir / PAIRS)
        t = time.perf_counter()
        n_duplicates, refused, largest = self._cluster()
        timings["cluster"] = time.perf_counter() - t
        result = DiskDedupResult(
            self.work_dir, self.n_docs, n_candidates, n_verified, n_duplicates, refused, largest,
            self.max_cluster, timings, max(disk, _dir_bytes(self.work_dir)),
        )
        manifest = {
            "config": asdict(self.config), "bands": self.bands, "rows": self.rows, "partitions": self.partitions,
            "result": {k: v for k, v in asdict(result).items() if k != "work_dir"},
        }
        write_json(self.work_dir / MANIFEST, manifest)
        return result

    def _pair_partitions(self) -> int:
        # Verifying a pair partition reads the signatures of its pairs' rows (512 bytes each at 128
        # permutations), so pair partitions cover at most ROWS_PER_PAIR_PARTITION first rows each.
        return max(self.partitions, -(-self.n_docs // ROWS_PER_PAIR_PARTITION))

    def _block(self) -> int:
        return max(1, -(-self.n_docs // self._pair_partitions()))  # first rows per pair partition

    def _find_candidates(self) -> None:
        sources = [p for p in range(self.partitions) if _part(self.work_dir / KEYS, p).exists()]
        self.map_tasks(write_candidates, [(self.work_dir, p, self.config.max_bucket, self._block(),
                                           self._pair_partitions()) for p in sources])
        self._sources = sources

    def _verify(self) -> tuple[int, int]:
        counts = self.map_tasks(write_edges, [(self.work_dir, q, self._sources, self.config.minhash.num_perm,
                                               self.config.threshold, self.n_docs)
                                              for q in range(self._pair_partitions())])
        return sum(c for c, _ in counts), sum(v for _, v in counts)

    def _edge_parts(self) -> Iterator[np.ndarray]:
        for q in range(self._pair_partitions()):
            path = self.work_dir / EDGES / f"part-{q:05d}.npy"
            if path.exists():
                yield np.load(path)

    def _cluster(self) -> tuple[int, int, int]:
        nodes = [np.unique(edges) for edges in self._edge_parts()]
        uf = CappedUnionFind(np.unique(np.concatenate(nodes)) if nodes else np.empty(0, np.int64), self.max_cluster)
        del nodes
        for edges in self._edge_parts():  # partitions are row ranges of i, each sorted: global (i, j) order
            uf.union(edges[:, 0], edges[:, 1])
        labels = uf.labels()
        dup = labels != uf.nodes
        rows, reps = uf.nodes[dup], labels[dup]
        similarity = np.empty(len(rows), dtype=np.float32)
        for s in range(0, len(rows), _SIMILARITY_CHUNK):
            r, c = rows[s : s + _SIMILARITY_CHUNK], reps[s : s + _SIMILARITY_CHUNK]
            sig = self.signatures.gather(np.concatenate((c, r)))
            local = np.stack((np.arange(len(r)), np.arange(len(r), 2 * len(r))), axis=1)
            similarity[s : s + len(r)] = estimated_jaccard(local, sig)
        table = pa.table({ROW: rows, DUPLICATE_OF: reps, SIMILARITY: similarity})
        with atomic_path(self.work_dir / DUPLICATES) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        return len(rows), uf.refused, uf.largest()
