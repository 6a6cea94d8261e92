"""Statistics of individual texts cached by content hash, so a benchmark never scores the same text twice.

One .npz per (detector name, model, dtype, window) under ``.cache/text-stats``: ``keys`` (sha1 of each
text) and one float64 column per statistic. Written atomically after every scoring call.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEXT_CACHE_DIR = REPO / ".cache" / "text-stats"
STAT_COLUMNS = ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr")


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class TextStatsCache:
    """``stats(texts)`` returns every float statistic of ``detector`` for ``texts``, scoring only new texts."""

    def __init__(self, detector, tag: str, cache_dir: Path = TEXT_CACHE_DIR) -> None:
        lm = detector.lm
        spec = f"{detector.name}:{lm.name}:{lm.dtype}:{detector.max_tokens}:{tag}"
        self.path = cache_dir / f"{hashlib.sha256(spec.encode()).hexdigest()[:16]}.npz"
        self.detector = detector
        self.rows: dict[str, np.ndarray] = {}
        self.columns: list[str] = []
        if self.path.is_file():
            with np.load(self.path) as data:
                self.columns = [str(c) for c in data["columns"]]
                for key, row in zip(data["keys"], data["values"]):
                    self.rows[str(key)] = row

    def stats(self, texts: list[str]) -> dict[str, np.ndarray]:
        keys = [text_key(text) for text in texts]
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in self.rows}.items())
        if todo:
            fresh = self.detector.statistics([text for _, text in todo])
            columns = [name for name, value in fresh.items() if np.asarray(value).dtype.kind == "f"]
            if self.columns and columns != self.columns:
                raise ValueError(f"{self.path}: cached columns {self.columns} differ from {columns}")
            self.columns = columns
            for i, (key, _) in enumerate(todo):
                self.rows[key] = np.array([fresh[name][i] for name in columns], dtype=np.float64)
            self._save()
        matrix = np.stack([self.rows[key] for key in keys]) if keys else np.zeros((0, len(self.columns)))
        return {name: matrix[:, j] for j, name in enumerate(self.columns)}

    def prefill(self, texts: list[str], stats: dict[str, np.ndarray]) -> None:
        """Adopt statistics scored elsewhere for ``texts`` (row i of ``stats`` belongs to ``texts[i]``)."""
        columns = [name for name in STAT_COLUMNS if name in stats]
        if "lrr" not in stats and "likelihood" in stats:  # caches written before LRR existed
            stats = {**stats, "lrr": stats["likelihood"] / np.minimum(stats["log_rank"], -1e-6)}
            columns = [name for name in STAT_COLUMNS if name in stats]
        if self.columns and columns != self.columns:
            return
        self.columns = columns
        for i, text in enumerate(texts):
            self.rows.setdefault(text_key(text), np.array([stats[name][i] for name in columns], dtype=np.float64))

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.rows)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=self.path.parent)
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, keys=np.array(keys), columns=np.array(self.columns),
                     values=np.stack([self.rows[k] for k in keys]))
        os.replace(tmp, self.path)
