"""The human base corpus: read documents, cut them into fixed-length token rows, split them once.

Rows are what every model trains on: `context` token ids each, documents joined by the end-of-text id.
The split is fixed (independent of the experiment seed) so every seed and arm sees the same held-out text:
eval rows (perplexity), label rows (fitting each generation's detector), prompt rows (sampling prefixes),
and train rows (generation 0, the human part of the pool, and the human-only arm).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from hygiene.errors import HygieneError

__all__ = ["CorpusError", "HumanSplits", "default_source", "read_documents", "chunk", "split_rows"]

_SPLIT_SEED = 20240613
_TEXT_SUFFIXES = (".txt", ".text", ".md")


class CorpusError(HygieneError, ValueError):
    """The base corpus is missing, unreadable or too small for the configuration."""


HUMAN_TEXT_ENV = "CORPUS_HYGIENE_HUMAN_TEXT"


def default_source() -> Path:
    """$CORPUS_HYGIENE_HUMAN_TEXT, else ../shared/data/text/wikitext-2 beside a source checkout."""
    if os.environ.get(HUMAN_TEXT_ENV):
        return Path(os.environ[HUMAN_TEXT_ENV])
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text" / "wikitext-2"


def _read_file(path: Path, text_column: str) -> list[str]:
    name = path.name.lower()
    if name.endswith(".parquet"):
        table = pq.read_table(path)
        if text_column not in table.column_names:
            raise CorpusError(f"{path}: no column {text_column!r} (columns: {', '.join(table.column_names)})")
        return [t for t in table.column(text_column).to_pylist() if t]
    if name.endswith(".jsonl"):
        with open(path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        return [r[text_column] for r in rows if r.get(text_column)]
    if name.endswith(_TEXT_SUFFIXES):
        # One paragraph per line (WikiText layout); blank lines separate nothing else.
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    raise CorpusError(f"{path}: unsupported file type (use .txt, .jsonl or .parquet)")


def read_documents(source: str | Path | None = None, *, text_column: str = "text",
                   max_chars: int | None = None) -> list[str]:
    """Documents of a file, or of every supported file in a directory (sorted by name)."""
    path = Path(source) if source is not None else default_source()
    if not path.exists() and source is None:
        raise CorpusError(f"no human base corpus: none given and the default {path} does not exist; pass "
                          f"data.source (a .txt/.jsonl/.parquet file or folder) or set {HUMAN_TEXT_ENV}")
    if not path.exists():
        raise CorpusError(f"base corpus not found: {path}")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")) if path.is_dir() else [path]
    docs: list[str] = []
    for file in files:
        if path.is_dir() and not file.name.lower().endswith((*_TEXT_SUFFIXES, ".jsonl", ".parquet")):
            continue
        docs.extend(_read_file(file, text_column))
    if max_chars is not None:
        total, kept = 0, []
        for doc in docs:
            if total >= max_chars:
                break
            kept.append(doc)
            total += len(doc)
        docs = kept
    if not docs:
        raise CorpusError(f"no text found in {path}")
    return docs


def chunk(token_lists: list[list[int]], context: int, eos_id: int) -> np.ndarray:
    """Join documents with `eos_id` and cut into rows of `context` tokens (the ragged tail is dropped)."""
    flat = np.fromiter((t for ids in token_lists for t in (*ids, eos_id)), dtype=np.int32)
    n = len(flat) // context
    return flat[: n * context].reshape(n, context)


@dataclass(frozen=True)
class HumanSplits:
    eval: np.ndarray
    label: np.ndarray
    prompt: np.ndarray
    train: np.ndarray


def split_rows(rows: np.ndarray, *, eval_rows: int, label_rows: int, prompt_rows: int,
               min_train: int) -> HumanSplits:
    """Fixed random split of rows into held-out parts and the rest (train)."""
    need = eval_rows + label_rows + prompt_rows + min_train
    if len(rows) < need:
        raise CorpusError(f"base corpus gives {len(rows)} rows but the configuration needs {need} "
                          f"(eval {eval_rows} + label {label_rows} + prompt {prompt_rows} + train {min_train}); "
                          "use a larger corpus or smaller budgets")
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(rows))
    a, b, c = eval_rows, eval_rows + label_rows, eval_rows + label_rows + prompt_rows
    return HumanSplits(eval=rows[order[:a]], label=rows[order[a:b]], prompt=rows[order[b:c]], train=rows[order[c:]])
