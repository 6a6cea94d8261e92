"""Column and file names shared between pipeline stages, outputs and readers.

They are the contract between `score`, `clean`, the report and any later stage; keep them here
rather than as string literals scattered through the code.
"""

from __future__ import annotations

__all__ = [
    "PREFIX",
    "SCORE",
    "MACHINE",
    "P_MACHINE",
    "statistic_column",
    "N_TOKENS",
    "TRUNCATED",
    "CLUSTER",
    "DUPLICATE_OF",
    "SIMILARITY",
    "REASON",
    "Q_SOURCE",
    "Q_ROW",
    "Q_ERROR",
    "Q_RAW",
    "REASONS",
    "MACHINE_GENERATED",
    "NEAR_DUPLICATE",
    "EXACT_DUPLICATE",
    "KEPT_DIR",
    "REMOVED_DIR",
    "QUARANTINE_DIR",
    "SCORED_DIR",
    "WORK_DIR",
    "RUN_MARKER",
    "MANIFEST",
    "REPORT_HTML",
    "DATASET_CARD",
    "RUN_FORMAT",
    "OUTPUT_FORMATS",
]

PREFIX = "hygiene_"

# Added to every scored row.
SCORE = PREFIX + "score"  # the detector statistic the decision uses (higher = more machine-like)
MACHINE = PREFIX + "machine"  # score >= calibrated threshold
P_MACHINE = PREFIX + "p_machine"  # calibrated P(machine), for detectors that bring a calibration (trained)


def statistic_column(name: str) -> str:
    """The column of a detector statistic (likelihood, log_rank, ..., binoculars, supervised)."""
    return PREFIX + name


N_TOKENS = PREFIX + "n_tokens"
TRUNCATED = PREFIX + "truncated"  # the document was longer than the scoring window
CLUSTER = PREFIX + "cluster"  # id of the document kept for this row's duplicate cluster
DUPLICATE_OF = PREFIX + "duplicate_of"  # id of the exact original, or of the cluster's kept row; else null
SIMILARITY = PREFIX + "similarity"  # verified Jaccard similarity to the cluster (1.0 for exact copies)
REASON = PREFIX + "reason"  # why the row is (or, in `score`, would be) removed; null when kept

# Quarantined rows: the original bytes are kept so nothing is lost.
Q_SOURCE = PREFIX + "source"
Q_ROW = PREFIX + "row"
Q_ERROR = PREFIX + "error"
Q_RAW = PREFIX + "raw"

MACHINE_GENERATED = "machine_generated"
NEAR_DUPLICATE = "near_duplicate"
EXACT_DUPLICATE = "exact_duplicate"
REASONS = (EXACT_DUPLICATE, NEAR_DUPLICATE, MACHINE_GENERATED)

KEPT_DIR = "kept"
REMOVED_DIR = "removed"
QUARANTINE_DIR = "quarantine"
SCORED_DIR = "scored"
WORK_DIR = ".work"
RUN_MARKER = "run.json"  # in WORK_DIR: marks a directory a run writes into (hygiene.pipeline.rundir)
MANIFEST = "manifest.json"
REPORT_HTML = "report.html"
DATASET_CARD = "README.md"  # the Hugging Face dataset card: `configs:` for kept / removed / scored / quarantine
OUTPUT_FORMATS = ("parquet", "jsonl", "jsonl.gz", "jsonl.zst")  # of the output shards (`output_format`)
RUN_FORMAT = "corpus-hygiene-run/1"  # tags the run marker (in WORK_DIR, and in the manifest once finished)
