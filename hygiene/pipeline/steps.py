"""The per-batch steps of cleaning: detector signals, exact keys, MinHash signatures, the machine filter.

Each takes a batch of documents (at least a text column) and adds columns; see :mod:`.step` for the
contract. Column names are the constants below: they are what the steps, the work files and the
decisions agree on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from hygiene.detector import Detector, build_detector, scoring
from hygiene.io import columns as C

from .step import Filter, Step

if TYPE_CHECKING:
    from detectors.minhash import MinHashConfig
    from hygiene.config import DetectorSettings

__all__ = ["TEXT", "ROW", "ID", "SCORE", "P_MACHINE", "N_TOKENS", "TRUNCATED", "UNSCORED", "KEY", "SIGNATURE",
           "MACHINE", "DetectorStep", "ExactKeyStep", "MinHashStep", "MachineFilter", "documents"]

# Columns of a documents batch, and what the steps add.
TEXT, ROW, ID = "text", "row", "id"
SCORE, P_MACHINE, N_TOKENS, TRUNCATED = "score", "p_machine", "n_tokens", "truncated"
UNSCORED = "unscored"  # why the detector could not score the row (null when it could)
KEY, SIGNATURE, MACHINE = "exact_key", "signature", "machine"


def documents(rows: np.ndarray, ids: list[str], texts: pa.Array | list[str]) -> pa.Table:
    """A documents batch: position in its shard, id and text."""
    return pa.table({ROW: pa.array(rows, pa.int64()), ID: pa.array(ids, pa.string()),
                     TEXT: pa.array(texts, pa.string()) if isinstance(texts, list) else texts})


class DetectorStep(Step):
    """Adds the detector's score (higher = more machine-like), its statistics, ``n_tokens``, ``truncated``
    and, for rows it cannot score, ``unscored`` (why). Rows out: the rows it could score.

    The detector is built from its settings on first use unless one is given (tests, the service).
    """

    name = "detector"

    def __init__(self, settings: DetectorSettings, detector: Detector | None = None, *, text: str = TEXT) -> None:
        super().__init__()
        spec = scoring(settings)
        if spec is None:
            raise ValueError("detector kind 'none' has no detector step")
        self.settings, self.scoring, self.text = settings, spec, text
        self._loaded = detector

    @property
    def detector(self) -> Detector:
        if self._loaded is None:
            self._loaded = build_detector(self.settings)
        return self._loaded

    def apply(self, batch: pa.Table) -> pa.Table:
        texts = batch.column(self.text).to_pylist()
        stats = self.detector.statistics(texts)
        score = self.scoring.score(stats)
        n = len(texts)
        reason = np.asarray(stats["reason"], dtype=object) if "reason" in stats else np.full(n, "", dtype=object)
        bad = ~np.isfinite(score)
        unscored = [f"could not be scored ({reason[i] or 'too short'})" if bad[i] else None for i in range(n)]
        added = {SCORE: pa.array(score, pa.float64())}
        if self.scoring.probability and P_MACHINE in stats:
            added[P_MACHINE] = pa.array(np.asarray(stats[P_MACHINE], dtype=np.float64))
        for name in self.scoring.columns:
            if name in stats:
                added[name] = pa.array(np.asarray(stats[name], dtype=np.float64))
        added[N_TOKENS] = pa.array(np.asarray(stats.get("n_tokens", np.zeros(n)), dtype=np.int32))
        added[TRUNCATED] = pa.array(np.asarray(stats.get("truncated", np.zeros(n)), dtype=bool))
        added[UNSCORED] = pa.array(unscored, pa.string())
        for name, column in added.items():
            batch = batch.append_column(name, column)
        return batch

    def rows_out(self, batch: pa.Table) -> int:
        return batch.column(UNSCORED).null_count


class ExactKeyStep(Step):
    """Adds ``exact_key``: a 64-bit hash of the normalised text (NFKC, case-folded, whitespace collapsed)."""

    name = "exact_key"

    def __init__(self, *, text: str = TEXT) -> None:
        super().__init__()
        self.text = text

    def apply(self, batch: pa.Table) -> pa.Table:
        from detectors.minhash import text_keys

        from .text_bytes import encode_column

        return batch.append_column(KEY, pa.array(text_keys(encode_column(batch.column(self.text))), pa.uint64()))


class MinHashStep(Step):
    """Adds ``signature``: the MinHash signature of the text (fixed-size list of uint32)."""

    name = "minhash"

    def __init__(self, config: MinHashConfig, *, text: str = TEXT) -> None:
        super().__init__()
        self.config, self.text = config, text

    def apply(self, batch: pa.Table) -> pa.Table:
        from detectors.minhash import sign

        from .text_bytes import encode_column

        signatures = sign(encode_column(batch.column(self.text)), self.config)
        flat = pa.array(signatures.reshape(-1), pa.uint32())
        return batch.append_column(SIGNATURE, pa.FixedSizeListArray.from_arrays(flat, self.config.num_perm))


class MachineFilter(Filter):
    """Adds ``machine`` (score >= threshold) and removes those rows as ``machine_generated`` (unless
    ``remove`` is off: then it only flags them)."""

    name = "machine_filter"
    reason = C.MACHINE_GENERATED

    def __init__(self, threshold: float, *, remove: bool = True) -> None:
        super().__init__()
        self.threshold, self.remove = float(threshold), remove

    def flags(self, batch: pa.Table) -> np.ndarray:
        machine = batch.column(MACHINE).to_numpy(zero_copy_only=False)
        return machine if self.remove else np.zeros(len(machine), dtype=bool)

    def apply(self, batch: pa.Table) -> pa.Table:
        score = batch.column(SCORE).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            machine = pa.array(score >= self.threshold)
        if MACHINE in batch.column_names:
            batch = batch.set_column(batch.schema.get_field_index(MACHINE), MACHINE, machine)
        else:
            batch = batch.append_column(MACHINE, machine)
        return super().apply(batch)
