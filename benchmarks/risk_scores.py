"""Every row of ../shared/data/detect scored once by the default detector, all statistics kept, for the
machine-share validation (benchmarks/risk_validation.py) and anything else that mixes corpora from them.

The default detector (SmolLM2-135M likelihood, 512 tokens) computes every statistic of
``detectors.zeroshot`` in one forward pass; all of them are cached per text (``benchmarks/text_cache.py``,
keyed by content hash, so the human rows the sets share are scored once and a stopped run resumes).

    nice -n 10 .venv/bin/python benchmarks/risk_scores.py [--all-rows]   # score what is not cached yet
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from text_cache import STAT_COLUMNS, TextStatsCache, text_key  # noqa: E402

DATA_DIR = REPO.parent / "shared" / "data" / "detect"
CHUNK = 64  # texts per scoring call: the cache is saved after each, so a stopped run loses little
ROWS_PER_SET = 600
"""The validation's rows: the first 600 of each set, i.e. all of every 300-row GPT-3.5 / GPT-4 set and 300 human +
300 machine of every 1000-row base-model set (the files alternate human / machine rows), so every generator
family has 300 machine documents. Scoring all 4,200 rows on the shared 2-core machine would take hours more."""


@dataclass(frozen=True)
class LabelledRows:
    """Every row of the detect sets: its set, domain (``dataset``), generator, label and statistics."""

    key: np.ndarray  # sha1 of the text: the sets share some human rows, and a split must keep copies together
    set_name: np.ndarray  # str
    domain: np.ndarray  # "xsum" / "writing"
    generator: np.ndarray  # "human" for label 0 rows
    label: np.ndarray  # int: 0 human, 1 machine
    stats: dict[str, np.ndarray]  # raw statistics of the default detector (see detectors.zeroshot)

    def score(self, statistic: str = "likelihood") -> np.ndarray:
        """One statistic, oriented so that higher = more machine-like."""
        from detectors.zeroshot import SCORE_SIGN

        return SCORE_SIGN[statistic] * self.stats[statistic]

    def features(self, statistics: tuple[str, ...]) -> np.ndarray:
        """(rows, len(statistics)) oriented feature matrix."""
        return np.column_stack([self.score(s) for s in statistics])


def read_sets(data_dir: Path = DATA_DIR, rows_per_set: int | None = ROWS_PER_SET) -> list[dict]:
    """Rows of every set (the first ``rows_per_set`` of each; None = all), in file order."""
    rows = []
    for path in sorted(data_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            rows += [{**json.loads(line), "set": path.stem} for line in handle if line.strip()][:rows_per_set]
    return rows


def _cache():
    from detectors.zeroshot import ZeroShotDetector

    return TextStatsCache(ZeroShotDetector(statistic="likelihood", max_tokens=512, batch_size=16), tag="raw")


def load_rows(data_dir: Path = DATA_DIR, *, rows_per_set: int | None = ROWS_PER_SET, score_missing: bool = False,
              drop_missing: bool = False, log=print) -> LabelledRows:
    """Rows and statistics from the cache; texts not cached yet are scored when ``score_missing``, left out when
    ``drop_missing`` (else an error)."""
    rows = read_sets(data_dir, rows_per_set)
    if not rows:
        raise FileNotFoundError(f"no *.jsonl in {data_dir}")
    cache = _cache()
    if drop_missing:
        rows = [row for row in rows if text_key(row["text"]) in cache.rows]
    texts = [row["text"] for row in rows]
    missing = sorted({text_key(t): t for t in texts if text_key(t) not in cache.rows}.values())
    if missing and not score_missing:
        raise RuntimeError(f"{len(missing)} texts are not scored yet: run benchmarks/risk_scores.py first")
    start = time.perf_counter()
    for done in range(0, len(missing), CHUNK):
        cache.stats(missing[done:done + CHUNK])
        log(f"scored {min(done + CHUNK, len(missing))}/{len(missing)} texts, {time.perf_counter() - start:.0f} s")
    stats = cache.stats(texts)
    return LabelledRows(
        key=np.array([text_key(t) for t in texts]),
        set_name=np.array([row["set"] for row in rows]),
        domain=np.array([row["dataset"] for row in rows]),
        generator=np.array([row["generator"] for row in rows]),
        label=np.array([row["label"] for row in rows], dtype=np.int64),
        stats={name: stats[name] for name in STAT_COLUMNS if name in stats},
    )


def load_shipped_rows(data_dir: Path = DATA_DIR, *, rows_per_set: int | None = ROWS_PER_SET) -> LabelledRows:
    """The likelihood of every row without the cache or the LM: the shipped reference
    (detectors/calibrations, written by benchmarks/reference_default.py) holds exactly these scores, human and
    machine rows each in file order."""
    from detectors.reference import default_reference

    ref = default_reference()
    rows = read_sets(data_dir, None)
    human = [i for i, row in enumerate(rows) if row["label"] == 0]
    machine = [i for i, row in enumerate(rows) if row["label"] == 1]
    if (len(human), len(machine)) != (len(ref.human), len(ref.machine)):
        raise RuntimeError("the shipped reference does not hold one score per row of the detect sets")
    score = np.empty(len(rows))
    score[human], score[machine] = ref.human_scores, ref.machine_scores
    position, seen = [], {}  # row number within its set
    for row in rows:
        position.append(seen.get(row["set"], 0))
        seen[row["set"]] = position[-1] + 1
    keep = np.array(position) < (rows_per_set or len(rows))
    pick = lambda values: np.array(values)[keep]
    return LabelledRows(
        key=pick([text_key(row["text"]) for row in rows]),
        set_name=pick([row["set"] for row in rows]),
        domain=pick([row["dataset"] for row in rows]),
        generator=pick([row["generator"] for row in rows]),
        label=pick([row["label"] for row in rows]).astype(np.int64),
        stats={"likelihood": score[keep]},  # already oriented: higher = more machine-like, as the raw likelihood
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all-rows", action="store_true",
                        help=f"every row (default: the first {ROWS_PER_SET} of each set)")
    args = parser.parse_args(argv)
    rows = load_rows(rows_per_set=None if args.all_rows else ROWS_PER_SET, score_missing=True,
                     log=lambda line: print(line, flush=True))
    print(f"{len(rows.label)} rows, statistics {sorted(rows.stats)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
