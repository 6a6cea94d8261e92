"""Score every benchmark set once with :class:`detectors.tokens.TokenScorer` (raw + chat-template contexts)
and cache the per-token arrays, so every feature and experiment is derived without another forward pass.

The sets share many human rows (every xsum set holds the same 150 human articles, gpt2-xl and opt 499 of
500), so every *distinct* text is scored once, in parts of ``--part`` texts under ``.cache/token-stats``,
each saved atomically as it finishes: a stopped run resumes where it was. ``load(name)`` returns the set's
:class:`TokenArrays` (row i = text i) and labels.

    nice -n 10 .venv/bin/python benchmarks/token_cache.py [--sets NAME ...] [--part 128] [--model PATH.gguf]

``--model`` scores with another causal LM (e.g. Gemma 3 270M, benchmarks/detect_second_scorer.py): its pools
are keyed by the model file's name too, so each scorer keeps its own arrays; ``load(..., model=NAME)`` reads them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from detect_corpora import load_set  # noqa: E402

from detectors.tokens import TokenArrays  # noqa: E402

CACHE = REPO / ".cache" / "token-stats"
SETTINGS = {"max_tokens": 512, "normalize": "none", "chat_prompt": "Write a text."}
# Scoring order: the chat-model sets and the human domains first, the large base-model sets last.
ORDER = ("writing_gpt-3.5-turbo", "writing_gpt-4", "xsum_gpt-3.5-turbo", "xsum_gpt-4", "python_docs",
         "wikitext2_test", "writing_gpt-neo-2.7B", "xsum_gpt2-xl", "xsum_opt-2.7b")
BASE = ("writing_gpt-neo-2.7B", "xsum_gpt2-xl", "xsum_opt-2.7b")
POOLS = (("raw", "chat"), ("raw",), ("chat",))  # one pool per scorer configuration


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def pool_dir(contexts: tuple[str, ...], model: str | None = None) -> Path:
    """One folder per scorer configuration; the default scorer's key has no model (the pools predate it)."""
    settings = {"contexts": list(contexts), **SETTINGS, **({"model": model} if model else {})}
    return CACHE / f"pool-{hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]}"


def unique_texts(names: list[str], rows: dict[str, int] | None = None) -> list[str]:
    """Every distinct text of the named sets (first ``rows[name]`` rows where given): the sets in order,
    except that the base-model sets are interleaved pair by pair, so any prefix covers all three evenly."""
    seen, out = set(), []
    base = [n for n in names if n in BASE]
    ordered = [load_set(n)[0][: (rows or {}).get(n)] for n in names if n not in BASE]
    columns = [load_set(n)[0][: (rows or {}).get(n)] for n in base]
    pairs = max((len(c) for c in columns), default=0)
    ordered.append([t for start in range(0, pairs, 2) for c in columns for t in c[start:start + 2]])
    for texts in ordered:
        for text in texts:
            if (key := text_key(text)) not in seen:
                seen.add(key)
                out.append(text)
    return out


class Pool:
    """Every scored part of one pool, indexed by text key."""

    def __init__(self, contexts: tuple[str, ...], model: str | None = None) -> None:
        parts, keys = [], []
        for path in sorted(pool_dir(contexts, model).glob("part-*.npz")):
            parts.append(TokenArrays.load(path))
            keys.extend(json.loads(path.with_suffix(".json").read_text())["keys"])
        self.contexts = contexts
        self.arrays = TokenArrays.concat(parts) if parts else None
        self.row = {key: i for i, key in enumerate(keys)}


class Store:
    """Per-token arrays of any text from whichever pool has the fields asked for."""

    def __init__(self, model: str | None = None) -> None:
        self.pools = [Pool(c, model) for c in POOLS]

    def has(self, key: str, contexts: tuple[str, ...]) -> bool:
        return all(any(c in p.contexts and key in p.row for p in self.pools) for c in contexts)

    def take(self, texts: list[str], contexts: tuple[str, ...]) -> TokenArrays:
        """Fields of ``contexts`` (and the cross terms when one pool has both) for ``texts``, row i = text i."""
        keys = [text_key(t) for t in texts]
        merged = None
        for context in contexts:
            pieces = []
            for key in keys:
                pool = next(p for p in self.pools if context in p.contexts and key in p.row)
                pieces.append((pool, pool.row[key]))
            if not pieces:
                return TokenArrays(np.zeros(0, np.int32), np.zeros(1, np.int64), {}, np.zeros(0, str),
                                   np.zeros(0, bool))
            part = TokenArrays.concat([_only(pool.arrays.take([row]), context) for pool, row in pieces])
            fields = part.fields
            if merged is None:
                merged = TokenArrays(part.ids, part.offsets, fields, part.reason, part.truncated, part.meta)
            else:
                if not np.array_equal(merged.offsets, part.offsets) or not np.array_equal(merged.ids, part.ids):
                    raise ValueError("pools disagree on the scored tokens of a text")
                merged.fields.update(fields)
        if contexts == ("raw", "chat"):
            both = self.pools[0]
            if all(k in both.row for k in keys):
                cross = both.arrays.take([both.row[k] for k in keys])
                merged.fields.update({k: cross.fields[k] for k in ("x_mu", "x_m2", "y_mu", "y_m2")})
        return merged


def _only(arrays: TokenArrays, context: str) -> TokenArrays:
    arrays.fields = {k: v for k, v in arrays.fields.items() if k.startswith(f"{context}_")}
    return arrays


_STORES: dict[str | None, Store] = {}


def load(name: str, contexts: tuple[str, ...] = ("raw",), model: str | None = None,
         ) -> tuple[TokenArrays, np.ndarray, list[str]]:
    """The set's per-token arrays (row i = text i), labels and texts: the longest prefix of the set's rows
    scored in every context asked for (the base-model sets may be scored in part, see ``--base-rows``), by the
    default scorer or by ``model`` (the name of the file ``--model`` scored with)."""
    store = _STORES.get(model) or _STORES.setdefault(model, Store(model))
    texts, labels = load_set(name)
    n = next((i for i, t in enumerate(texts) if not store.has(text_key(t), contexts)), len(texts))
    return store.take(texts[:n], contexts), labels[:n], texts[:n]


def score_pool(scorer, names: list[str], part: int, rows: dict[str, int], model: str | None = None) -> None:
    """Score every distinct text of ``names`` (the first ``rows[name]`` rows where given) not scored in the
    scorer's contexts yet (by this pool or one with more contexts)."""
    folder = pool_dir(scorer.contexts, model)
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(model)
    done = {k for p in store.pools if set(scorer.contexts) <= set(p.contexts) for k in p.row}
    texts = [t for t in unique_texts(names, rows) if text_key(t) not in done]
    k = len(list(folder.glob("part-*.npz")))
    print(f"{len(done)} texts scored before, {len(texts)} to score", flush=True)
    for start in range(0, len(texts), part):
        path = folder / f"part-{k:04d}.npz"
        chunk = texts[start:start + part]
        begin = time.perf_counter()
        arrays = scorer.arrays(chunk)
        elapsed = time.perf_counter() - begin
        path.with_suffix(".json").write_text(json.dumps({"seconds": elapsed, "keys": [text_key(t) for t in chunk],
                                                         "tokens": int(arrays.offsets[-1])}))
        _atomic(path, arrays.save)  # written last: a part counts once its arrays exist
        print(f"part {k}: {start + len(chunk)}/{len(texts)} texts, {elapsed:.0f} s, "
              f"{int(arrays.offsets[-1]) / elapsed:.0f} tokens/s ({time.strftime('%H:%M:%S')})", flush=True)
        k += 1


def _atomic(path: Path, save) -> None:
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        save(Path(tmp))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="*", default=None, help="set names (default: every detect set + human domains)")
    parser.add_argument("--part", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--contexts", nargs="+", default=["raw"], choices=["raw", "chat"])
    parser.add_argument("--rows", type=int, default=0, help="first N rows of every set (0 = all; default 0)")
    parser.add_argument("--base-rows", type=int, default=400,
                        help="first N rows of each 1000-row base-model set (0 = all; default 400)")
    parser.add_argument("--model", type=Path, default=None,
                        help="score with this causal LM (a .gguf file or model directory) instead of the default; "
                             "raw context only unless it has a chat template")
    parser.add_argument("--max-tokens", type=int, default=SETTINGS["max_tokens"],
                        help=f"window of a --model scorer (default {SETTINGS['max_tokens']}; the default scorer's "
                             "pools are always at the default)")
    args = parser.parse_args(argv)
    import torch

    from detectors.lm import load_causal_lm
    from detectors.tokens import TokenScorer

    print(f"torch threads {torch.get_num_threads()}", flush=True)
    model = model_key(args.model, args.max_tokens) if args.model else None
    if not args.model and args.max_tokens != SETTINGS["max_tokens"]:
        parser.error("--max-tokens applies to a --model scorer only")
    scorer = TokenScorer(load_causal_lm(args.model), contexts=tuple(args.contexts), max_tokens=args.max_tokens,
                         batch_size=args.batch_size, normalize=SETTINGS["normalize"],
                         chat_prompt=SETTINGS["chat_prompt"])
    names = args.sets or list(ORDER)
    rows = dict.fromkeys(names, args.rows) if args.rows else {}
    if args.base_rows:
        rows.update({name: min(args.base_rows, rows.get(name) or args.base_rows) for name in BASE})
    score_pool(scorer, names, args.part, rows, model)
    return 0


def model_key(path: Path, max_tokens: int = SETTINGS["max_tokens"]) -> str:
    """How ``load(model=...)`` names a ``--model`` scorer's pools: the file's name, and its window if not 512."""
    return path.name if max_tokens == SETTINGS["max_tokens"] else f"{path.name}@{max_tokens}"


if __name__ == "__main__":
    raise SystemExit(main())
