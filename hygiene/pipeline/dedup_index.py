"""Incremental dedup: pass 2's exact and near dedup against a persistent index of earlier runs' documents.

With ``dedup.index`` set (a SQLite file, or ``redis://host:port/db``), the run's documents are checked
against everything indexed before (old documents are never re-signed: their band keys and signatures are
stored) and against each other, then added to the index. Decisions equal those of cleaning the earlier
runs' documents and this run's together, this run's rows last (see :mod:`hygiene.dedup.index`), except
that a row removed as a duplicate of an earlier run's document names no ``duplicate_of`` id (the index
knows rows, not ids) and is its own cluster in this run's report.

When: the index is checked and updated once, when pass 2 decides (before routing), and the decisions are
kept in the run's work directory, so a resumed run routes with the same decisions and never adds its
documents twice: the update carries a token of this run, and a run whose token is in the index reloads
its decisions. ``score`` runs check without adding.

The two global steps (exact, then near, with the machine filter between them as in :mod:`.decide`) share
one :class:`IndexCheck`: the exact step collects, the first deciding call checks.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from hygiene.io import columns as C
from hygiene.io.atomic import atomic_path

from .dedup import CLUSTER, DUPLICATE_OF, SIMILARITY, _is, _numpy, _replace
from .step import REASON, StepStats, kept_rows, set_reason
from .steps import KEY, SIGNATURE, MachineFilter

if TYPE_CHECKING:
    from detectors.dedup import DedupConfig
    from hygiene.dedup.index import IndexResult

__all__ = ["IndexCheck", "IndexedExactDedup", "IndexedNearDedup", "indexed_decision_steps"]

_TOKEN, _SAVED = "index-run.txt", "index-decisions.npz"
_FIELDS = ("rows", "exact_of", "cluster", "duplicate_of", "similarity")


class IndexCheck:
    """This run's keys and signatures, checked against the index at ``location`` once (see the module)."""

    def __init__(self, config: DedupConfig, location: str, state_dir: Path, *, exact: bool, commit: bool) -> None:
        from dataclasses import replace

        self.config = replace(config, verify="estimated")  # the index verifies with stored signatures
        self.location, self.state_dir, self.exact, self.commit = location, Path(state_dir), exact, commit
        self._keys: list[np.ndarray] = []
        self._signatures: list[np.ndarray] = []
        self._result: IndexResult | None = None
        self.info: dict[str, Any] = {}

    def collect(self, batch: pa.Table) -> None:
        if self.exact:
            self._keys.append(batch.column(KEY).to_numpy(zero_copy_only=False))
        column = batch.column(SIGNATURE).combine_chunks()
        flat = column.flatten().to_numpy(zero_copy_only=False)
        self._signatures.append(flat.reshape(len(column), self.config.minhash.num_perm))

    def _token(self) -> str:
        path = self.state_dir / _TOKEN
        if not path.exists():
            with atomic_path(path) as tmp:
                tmp.write_text(uuid.uuid4().hex)
        return path.read_text().strip()

    def result(self, n: int) -> IndexResult:
        if self._result is None:
            self._result = self._check()
        if len(self._result.rows) != n:
            raise ValueError(f"the index checked {len(self._result.rows)} rows for {n}")
        return self._result

    def _check(self) -> IndexResult:
        from hygiene.dedup.index import DedupIndex, IndexResult
        from hygiene.dedup.storage import DedupIndexError, open_storage, redact_location

        perm = self.config.minhash.num_perm
        signatures = np.concatenate(self._signatures) if self._signatures else np.zeros((0, perm), np.uint32)
        keys = (np.concatenate(self._keys) if self._keys else np.zeros(0, np.uint64)) if self.exact else None
        token, saved = self._token(), self.state_dir / _SAVED
        with open_storage(self.location) as storage:
            index = DedupIndex(storage, self.config)
            if token in index.tags:  # an earlier attempt of this run added its documents
                if not saved.exists():
                    raise DedupIndexError(f"the dedup index {redact_location(self.location)} already holds this "
                                          "run's documents but its decisions are gone; clean again with --overwrite")
                with np.load(saved) as data:
                    result = IndexResult(**{k: data[k] for k in _FIELDS}, n_candidates=int(data["n_candidates"]),
                                         n_verified=int(data["n_verified"]))
                self.info = {"first_row": int(result.rows[0]) if len(result.rows) else index.n_docs,
                             "added": bool(self.commit), "documents": index.n_docs}
                return result
            first = index.n_docs
            result, update = index.check(signatures, keys, tag=token if self.commit else None)
            with atomic_path(saved) as tmp:
                with tmp.open("wb") as f:
                    np.savez(f, **{k: getattr(result, k) for k in _FIELDS}, n_candidates=result.n_candidates,
                             n_verified=result.n_verified)
            if self.commit:
                index.commit(update)
            self.info = {"first_row": first, "added": self.commit, "documents": index.n_docs}
        return result


class IndexedExactDedup:
    """Removes rows whose normalised text an earlier row of this run or of the index has (``exact_duplicate``)."""

    name = "exact_dedup"

    def __init__(self, check: IndexCheck) -> None:
        self.check = check
        self.stats = StepStats(self.name)

    def collect(self, batch: pa.Table) -> None:
        self.check.collect(batch)

    def __call__(self, table: pa.Table) -> pa.Table:
        start, rows_in = time.perf_counter(), kept_rows(table)
        result = self.check.result(table.num_rows)
        first = int(result.rows[0]) if len(result.rows) else 0
        exact_of = result.exact_of
        table = set_reason(table, exact_of >= 0, C.EXACT_DUPLICATE)
        fired = _is(table, C.EXACT_DUPLICATE)
        cluster, duplicate_of, similarity = (_numpy(table, c) for c in (CLUSTER, DUPLICATE_OF, SIMILARITY))
        here = fired & (exact_of >= first)  # the original is a row of this run (else: of the index, no id here)
        cluster[here] = duplicate_of[here] = exact_of[here] - first
        similarity[fired] = 1.0
        table = _replace(table, **{CLUSTER: cluster, DUPLICATE_OF: duplicate_of, SIMILARITY: similarity})
        self.stats.add(rows_in, kept_rows(table), time.perf_counter() - start)
        return table


class IndexedNearDedup:
    """Near dedup against the index: a cluster with an indexed document keeps that one (kept in its run), so
    this run's members are ``near_duplicate``; a cluster of this run's rows only keeps its first row no
    earlier filter removed, as :class:`~.dedup.NearDedup` does."""

    name = "near_dedup"

    def __init__(self, check: IndexCheck, *, collects: bool) -> None:
        self.check, self.collects = check, collects
        self.stats = StepStats(self.name)
        self.candidates = self.verified = 0

    def collect(self, batch: pa.Table) -> None:
        if self.collects:
            self.check.collect(batch)

    def __call__(self, table: pa.Table) -> pa.Table:
        start, rows_in = time.perf_counter(), kept_rows(table)
        n = table.num_rows
        result = self.check.result(n)
        self.candidates, self.verified = result.n_candidates, result.n_verified
        first = int(result.rows[0]) if n else 0
        copy = _is(table, C.EXACT_DUPLICATE)
        unique = np.flatnonzero(~copy)
        if not np.array_equal(unique, np.flatnonzero(result.exact_of < 0)):
            raise ValueError("the index's exact copies differ from the exact-dedup step's")
        kept = table.column(REASON).is_null().to_numpy(zero_copy_only=False)
        cluster, duplicate_of, similarity = (_numpy(table, c) for c in (CLUSTER, DUPLICATE_OF, SIMILARITY))
        label = result.cluster[unique]
        old = label < first  # the cluster holds an indexed document: that one is its representative
        local = np.where(old, n, label - first)  # this run's component label (n: none)
        candidate = np.where(kept[unique], unique, n)
        first_kept = np.full(n + 1, n, dtype=np.int64)
        np.minimum.at(first_kept, local, candidate)
        rep = np.where(first_kept[local] < n, first_kept[local], local)
        rep = np.where(old, unique, rep)
        size = np.bincount(local, minlength=n + 1)[local]
        in_cluster = old | (size > 1)
        cluster[unique] = rep
        similarity[unique[in_cluster]] = result.similarity[unique[in_cluster]]
        near_dup = np.zeros(n, dtype=bool)
        near_dup[unique[((rep != unique) | old) & kept[unique]]] = True
        here = unique[(rep != unique) & kept[unique]]
        duplicate_of[here] = cluster[here]
        cluster[copy] = _join(cluster, duplicate_of, copy)
        table = _replace(set_reason(table, near_dup, C.NEAR_DUPLICATE),
                         **{CLUSTER: cluster, DUPLICATE_OF: duplicate_of, SIMILARITY: similarity})
        self.stats.add(rows_in, kept_rows(table), time.perf_counter() - start)
        return table


def _join(cluster: np.ndarray, duplicate_of: np.ndarray, copy: np.ndarray) -> np.ndarray:
    """Exact copies join their original's cluster; a copy of an indexed document stays alone."""
    rows = np.flatnonzero(copy)
    original = duplicate_of[rows]
    out = cluster[rows].copy()
    here = original >= 0
    out[here] = cluster[original[here]]
    return out


def indexed_decision_steps(threshold: float | None, *, remove_machine: bool, exact: bool, dedup: DedupConfig,
                           location: str, state_dir: Path, commit: bool) -> list:
    """Pass 2's filters against a persistent index: exact (when on), the machine filter, near."""
    check = IndexCheck(dedup, location, state_dir, exact=exact, commit=commit)
    steps: list = [IndexedExactDedup(check)] if exact else []
    if threshold is not None:
        steps.append(MachineFilter(threshold, remove=remove_machine))
    steps.append(IndexedNearDedup(check, collects=not exact))
    return steps
