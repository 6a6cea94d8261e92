"""A persistent dedup index: check a new batch against everything indexed before, then add it.

``DedupIndex.update(signatures, exact_keys)`` gives each document of the batch the next global
row, finds exact copies (normalised-text hash seen before) and near-duplicates (LSH buckets, then
the estimated Jaccard against the stored signatures: old documents are never re-signed), and
commits the batch to the storage in one atomic step.

Decisions equal those of deduplicating everything indexed so far together with the batch, as
``exact_duplicates`` then ``find_near_duplicates`` over the rows that are not exact copies (the
pipeline's order), when no bucket exceeds ``max_bucket`` + 1 rows. How: only the old rows that
share a bucket with the batch are read, each old row joins its stored cluster (each cluster keeps a
parent pointer to its representative, its smallest row), so the batch's components are the ones a
full run would find, labelled by their smallest row. One thing a full run would do differently:
when the batch joins two old clusters, a full run would now drop the later cluster's representative,
which was already kept; the index records the merge (its parent pointer), so later batches see one
cluster, but it never changes a decision already made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.dedup import DedupConfig, estimated_jaccard, exact_duplicates, verify
from detectors.lsh import band_keys, candidate_pairs
from hygiene.dedup.components import CappedUnionFind
from hygiene.dedup.storage import DedupIndexError, IndexStorage, IndexUpdate

__all__ = ["DedupIndex", "IndexResult"]

FORMAT = 1


@dataclass(frozen=True)
class IndexResult:
    """Per document of one batch. Near-duplicate fields are for rows that are not exact copies."""

    rows: np.ndarray  # int64: the global row each document was given
    exact_of: np.ndarray  # int64: first row with the same normalised text, -1 if none
    cluster: np.ndarray  # int64: representative row (own row when kept); -1 for exact copies
    duplicate_of: np.ndarray  # int64: representative row of a near-duplicate, else -1
    similarity: np.ndarray  # float32: estimated Jaccard to the representative (1.0 kept, NaN exact copy)
    n_candidates: int
    n_verified: int


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    x = np.sort(np.asarray(x, dtype=np.int64), axis=None)
    return x[np.concatenate(([True], x[1:] != x[:-1]))] if len(x) else x


class DedupIndex:
    """Near-duplicate and exact-duplicate index over ``storage``, for one ``DedupConfig``."""

    def __init__(self, storage: IndexStorage, config: DedupConfig | None = None):
        self.storage = storage
        self.config = config or DedupConfig()
        if self.config.verify != "estimated":
            raise ValueError("the dedup index verifies with stored signatures only (verify='estimated')")
        self.bands, self.rows_per_band = self.config.banding()
        m = self.config.minhash
        self._settings = {
            "format": FORMAT, "num_perm": m.num_perm, "seed": m.seed, "shingle": m.shingle, "ngram": m.ngram,
            "bands": self.bands, "rows": self.rows_per_band, "threshold": self.config.threshold,
            "max_bucket": self.config.max_bucket,
        }
        stored = storage.meta()
        if stored is not None:
            differ = {k: (stored.get(k), v) for k, v in self._settings.items() if stored.get(k) != v}
            if differ:
                said = ", ".join(f"{k}: index {a!r}, now {b!r}" for k, (a, b) in differ.items())
                raise DedupIndexError(f"the dedup index was built with other settings ({said})")
        self.n_docs = int(stored["n_docs"]) if stored else 0

    def _roots(self, rows: np.ndarray) -> np.ndarray:
        """Each stored row's cluster representative (parent pointers always point to smaller rows)."""
        current = np.asarray(rows, dtype=np.int64)
        while len(current):
            parent = self.storage.parents(current)
            if np.array_equal(parent, current):
                break
            current = parent
        return current

    def _exact(self, keys: np.ndarray | None, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(exact_of per document, new keys, their rows)."""
        if keys is None:
            return np.full(len(rows), -1, np.int64), np.empty(0, np.uint64), np.empty(0, np.int64)
        keys = np.asarray(keys, dtype=np.uint64)
        if keys.shape != rows.shape:
            raise ValueError(f"exact_keys must have one key per document, got {keys.shape} for {len(rows)}")
        first = exact_duplicates(keys)  # within the batch
        seen = self.storage.exact_rows(keys)
        exact_of = np.where(seen >= 0, seen, np.where(first >= 0, rows[np.maximum(first, 0)], -1))
        new = (first < 0) & (seen < 0)
        return exact_of, keys[new], rows[new]

    def _cross_pairs(self, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(old row, new row) pairs from shared buckets, capped exactly like ``candidate_pairs`` on all rows."""
        flat = keys.reshape(-1)  # row-major: entries of one bucket appear in row order
        if not len(flat):
            return np.empty((0, 2), np.int64)
        order = np.argsort(flat, kind="stable")
        sorted_keys = flat[order]
        new_key = np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1]))
        run_start = np.flatnonzero(new_key)
        rank = np.empty(len(flat), np.int64)  # this entry's place among the batch's members of its bucket
        rank[order] = np.arange(len(flat)) - np.repeat(run_start, np.diff(np.append(run_start, len(flat))))
        bucket = np.empty(len(flat), np.int64)
        bucket[order] = np.cumsum(new_key) - 1
        pos, old = self.storage.bucket_rows(sorted_keys[run_start])
        old_count = np.bincount(pos, minlength=len(run_start))
        old_start = np.concatenate(([0], np.cumsum(old_count)))[:-1]
        # An old member at place p pairs with the batch member at place q iff (count + q) - p <= max_bucket.
        c = old_count[bucket]
        take = np.clip(np.minimum(c, self.config.max_bucket - rank), 0, None)
        entry = np.repeat(np.arange(len(flat)), take)
        step = np.arange(len(entry)) - np.repeat(np.cumsum(take) - take, take)
        first_old = old_start[bucket] + c - take
        partners = old[first_old[entry] + step]
        return np.stack((partners, rows[entry // keys.shape[1]]), axis=1)

    def _signatures(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.empty((0, self.config.minhash.num_perm), np.uint32)
        return self.storage.signatures(rows)

    def _local(self, rows: np.ndarray, old_rows: np.ndarray, new_rows: np.ndarray) -> np.ndarray:
        """Index of each row in concat(old_rows, new_rows), both sorted (old rows are those < n_docs)."""
        new = len(old_rows) + np.searchsorted(new_rows, rows)
        return np.where(rows < self.n_docs, np.searchsorted(old_rows, rows), new)

    def update(self, signatures: np.ndarray, exact_keys: np.ndarray | None = None) -> IndexResult:
        """Check a batch against the index and itself, then add it (atomically). Rows follow on."""
        result, update = self.check(signatures, exact_keys)
        self.commit(update)
        return result

    @property
    def tags(self) -> list[str]:
        """Tags of the latest committed batches (a run names its batch, to know after a crash whether it
        went in)."""
        return list((self.storage.meta() or {}).get("tags", []))

    def commit(self, update: IndexUpdate) -> None:
        """Add a batch :meth:`check` returned. Refused if another writer committed since that check: its rows
        would collide (one writer at a time per index; check again)."""
        stored = self.storage.meta()
        now = int(stored["n_docs"]) if stored else 0
        if now != self.n_docs:
            raise DedupIndexError(f"the dedup index moved on since this batch was checked ({now} documents, "
                                  f"expected {self.n_docs}): another run wrote to it; run again")
        self.storage.commit(update)
        self.n_docs = int(update.meta["n_docs"])

    def check(self, signatures: np.ndarray, exact_keys: np.ndarray | None = None,
              tag: str | None = None) -> tuple[IndexResult, IndexUpdate]:
        """Decisions for a batch against the index and itself, and the update that adds it (not applied:
        :meth:`commit` it). ``tag`` is recorded with the update (the last 100 tags are kept)."""
        sig = np.asarray(signatures)
        num_perm = self.config.minhash.num_perm
        if sig.ndim != 2 or sig.shape[1] != num_perm or sig.dtype != np.uint32:
            raise ValueError(f"signatures must be uint32 with shape (n, {num_perm}), got {sig.dtype} {sig.shape}")
        n0, n = self.n_docs, len(sig)
        total = n0 + n
        rows = np.arange(n0, total, dtype=np.int64)
        exact_of, new_keys, new_key_rows = self._exact(exact_keys, rows)

        unique = np.flatnonzero(exact_of < 0)
        urows, usig = rows[unique], sig[unique]
        keys = band_keys(usig, self.bands, self.rows_per_band)
        within = urows[candidate_pairs(keys, self.config.max_bucket)]
        cross = self._cross_pairs(keys, urows)
        codes = _sorted_unique(np.concatenate((within, cross)) @ np.array([total, 1], dtype=np.int64))
        pairs = np.stack((codes // total, codes % total), axis=1)

        old_rows = _sorted_unique(pairs[:, 0][pairs[:, 0] < n0])
        kept, _ = verify(
            self._local(pairs, old_rows, urows), np.concatenate((self._signatures(old_rows), usig)),
            self.config.threshold,
        )
        edges = np.concatenate((old_rows, urows))[kept]

        touched = _sorted_unique(edges[edges < n0])
        roots = self._roots(touched)
        uf = CappedUnionFind(_sorted_unique(np.concatenate((urows, touched, roots))))
        uf.union(roots, touched)
        uf.union(edges[:, 0], edges[:, 1])
        labels = uf.labels()

        label = labels[np.searchsorted(uf.nodes, urows)]
        dup = label != urows
        reps = label[dup]
        old_reps = _sorted_unique(reps[reps < n0])
        sims = estimated_jaccard(
            np.stack((self._local(reps, old_reps, urows), len(old_reps) + np.flatnonzero(dup)), axis=1),
            np.concatenate((self._signatures(old_reps), usig)),
        )

        root_label = labels[np.searchsorted(uf.nodes, roots)]
        merged = root_label != roots  # old clusters this batch joined to an earlier one
        tags = [*self.tags, tag][-100:] if tag is not None else self.tags
        update = IndexUpdate(
            meta={**self._settings, "n_docs": total, "tags": tags},
            rows=urows, band_keys=keys, signatures=usig,
            parent_rows=np.concatenate((urows[dup], roots[merged])),
            parents=np.concatenate((reps, root_label[merged])),
            exact_keys=new_keys, exact_rows=new_key_rows,
        )

        cluster = np.full(n, -1, np.int64)
        cluster[unique] = label
        duplicate_of = np.full(n, -1, np.int64)
        duplicate_of[unique[dup]] = reps
        similarity = np.full(n, np.nan, np.float32)
        similarity[unique] = 1.0
        similarity[unique[dup]] = sims
        return IndexResult(rows, exact_of, cluster, duplicate_of, similarity, len(pairs), len(edges)), update
