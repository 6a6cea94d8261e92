"""A trained detector made of experts: feature detectors, each shifted by its own offset, the larger one decides.

No single linear head serves both chat-model and base-model text (benchmarks/detect_experts.py measures the
alternative): here each expert is a complete ``corpus-hygiene-features`` model directory (:mod:`detectors.learned`),
possibly on its own scorer LM, and the detector's score is ``max(logit_e - offset_e)`` over the experts, NaN where
any expert cannot score the text. A model directory of format ``corpus-hygiene-experts`` holds ``detector.json``
and one sub-directory per expert::

    detector.json   format, version, experts [{name, dir, offset}], threshold {logit, target_fpr, rule} and
                    calibration (a ProbabilityCalibration) on the combined score, features {scorer, max_tokens,
                    normalize, experts} as hygiene.detector.scoring reads them, training (free)
    <dir>/          one expert's feature model directory (model.onnx, detector.json[, reference.npz])

It has no model.onnx of its own. ``reference_scores.json`` (out-of-fold combined scores of the training rows,
for ``risk`` and the domain check) is optional: :func:`hygiene.detector.save_reference` adds it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .files import write_text_atomic
from .learned import _ZEROSHOT, FeatureDetector, _read_meta
from .learned import FORMAT as FEATURES_FORMAT
from .learned import VERSION as FEATURES_VERSION
from .probability import ProbabilityCalibration

__all__ = ["FORMAT", "VERSION", "ExpertsDetector", "save_experts_model"]

FORMAT, VERSION = "corpus-hygiene-experts", 1
META_FILE = "detector.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PASS_KEYS = ("contexts", "max_tokens", "normalize", "chat_prompt")  # experts equal in these share one LM pass


class ExpertsDetector:
    """Load a ``corpus-hygiene-experts`` model directory; ``score`` = max over experts of (logit - offset).

    Experts on the same scorer share one loaded LM (``lm``, when given, serves the experts whose scorer it is),
    and experts that also read the same contexts and window share one LM pass per batch.
    """

    def __init__(self, model_dir: str | Path, *, lm=None, device: str | None = None,
                 providers: list[str] | None = None, batch_size: int = 16) -> None:
        model_dir = Path(model_dir)
        meta_path = model_dir / META_FILE
        self.meta = _read_meta(model_dir)
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise ValueError(f"{meta_path}: format {self.meta.get('format')!r} v{self.meta.get('version')} is not "
                             f"{FORMAT!r} v{VERSION}")
        from .lm import load_scorer

        specs = _expert_specs(self.meta, model_dir)
        lms = {lm.name: lm} if lm is not None else {}
        self.experts: dict[str, FeatureDetector] = {}
        self.offsets: dict[str, float] = {}
        for name, path, offset in specs:
            scorer = _expert_scorer(path)
            if scorer not in lms:
                lms[scorer] = load_scorer(scorer, device)
            self.experts[name] = FeatureDetector(path, lm=lms[scorer], providers=providers, batch_size=batch_size)
            self.offsets[name] = offset
        first = next(iter(self.experts.values()))
        features = self.meta.get("features") or {}
        max_tokens = max(d.max_tokens for d in self.experts.values())
        if (features.get("scorer"), features.get("max_tokens")) != (first.config.scorer, max_tokens):
            raise ValueError(f"{meta_path}: features {{scorer, max_tokens}} = {features.get('scorer')!r}, "
                             f"{features.get('max_tokens')!r} but its experts say {first.config.scorer!r}, "
                             f"{max_tokens}")
        try:
            self.calibration = ProbabilityCalibration.from_dict(self.meta["calibration"])
            self.threshold = float(self.meta["threshold"]["logit"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{meta_path}: no usable calibration / threshold.logit ({exc!r})") from exc
        self._passes = {name: (id(d.lm), *(getattr(d.config, k) for k in _PASS_KEYS))
                        for name, d in self.experts.items()}
        self.lm = first.lm
        self.max_tokens = max_tokens
        self.name = f"experts:{model_dir.name}"

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The first expert's zero-shot statistics (and n_tokens, truncated, reason), each expert's logit as
        ``expert_<name>``, ``supervised`` (the combined score) and ``p_machine``."""
        arrays: dict[tuple, object] = {}
        per: dict[str, dict[str, np.ndarray]] = {}
        for name, detector in self.experts.items():
            key = self._passes[name]
            if key not in arrays:
                arrays[key] = detector.scorer.arrays(texts)
            per[name] = detector.statistics_of(arrays[key])
        first = per[next(iter(self.experts))]
        shifted = np.column_stack([per[name]["supervised"] - offset for name, offset in self.offsets.items()])
        combined = shifted.max(axis=1)  # NaN from any expert stays NaN
        reason = np.asarray(first["reason"], dtype=object).copy()
        for i in np.flatnonzero(np.isnan(combined) & (reason == "")):  # scorable by the first, not another
            reason[i] = next((str(per[n]["reason"][i]) for n in per if per[n]["reason"][i] != ""),
                             "an expert could not score it")
        return {**{k: first[k] for k in _ZEROSHOT}, "n_tokens": first["n_tokens"], "truncated": first["truncated"],
                "reason": reason, **{f"expert_{name}": stats["supervised"] for name, stats in per.items()},
                "supervised": combined, "p_machine": self.calibration.predict(combined)}

    def score(self, texts: list[str]) -> np.ndarray:
        return self.statistics(texts)["supervised"]

    def probability(self, texts: list[str]) -> np.ndarray:
        return self.statistics(texts)["p_machine"]


def save_experts_model(out_dir: str | Path, experts: list[tuple[str, str | Path, float]], threshold: dict,
                       calibration: ProbabilityCalibration | dict, training: dict) -> Path:
    """Write an experts model directory: each ``(name, source_dir, offset)``'s feature model directory copied
    into ``out_dir/<name>/``, then ``detector.json`` (atomically, last). ``threshold`` holds ``logit`` (and
    ``target_fpr``, ``rule``: how it was chosen) and ``calibration`` maps the combined score to P(machine)."""
    out_dir = Path(out_dir)
    if not experts:
        raise ValueError("an experts model needs at least one expert")
    if "logit" not in threshold or not math.isfinite(float(threshold["logit"])):
        raise ValueError(f"threshold needs a finite 'logit', got {threshold!r}")
    calibration = (calibration if isinstance(calibration, ProbabilityCalibration)
                   else ProbabilityCalibration.from_dict(calibration))
    names = [name for name, _, _ in experts]
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name == META_FILE:
            raise ValueError(f"expert name {name!r}: use letters, digits, '_', '.', '-' (it names a sub-directory)")
    if len(set(names)) != len(names):
        raise ValueError(f"expert names must differ, got {names}")
    metas = []
    for name, source, offset in experts:
        meta = _read_meta(Path(source))
        if (meta.get("format"), meta.get("version")) != (FEATURES_FORMAT, FEATURES_VERSION):
            raise ValueError(f"expert {name!r}: {source} is not a {FEATURES_FORMAT!r} v{FEATURES_VERSION} model "
                             f"directory (format {meta.get('format')!r} v{meta.get('version')})")
        if not math.isfinite(float(offset)):
            raise ValueError(f"expert {name!r}: offset must be finite, got {offset!r}")
        metas.append(meta)
    normalizations = {m["features"].get("normalize", "none") for m in metas}
    if len(normalizations) > 1:
        raise ValueError(f"experts normalise their input differently ({sorted(normalizations)})")
    existing = out_dir / META_FILE
    if existing.is_file() and json.loads(existing.read_text(encoding="utf-8")).get("format") != FORMAT:
        raise ValueError(f"{out_dir} holds another kind of model directory; write the experts model elsewhere")

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, source, _ in experts:
        _copy_dir(Path(source), out_dir / name)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "experts": [{"name": name, "dir": name, "offset": float(offset)} for name, _, offset in experts],
        "threshold": {**threshold, "logit": float(threshold["logit"])},
        "calibration": calibration.to_dict(),
        "features": {"scorer": metas[0]["features"]["scorer"],
                     "max_tokens": max(int(m["features"]["max_tokens"]) for m in metas),
                     "normalize": normalizations.pop(), "experts": names},
        "training": training,
    }
    write_text_atomic(out_dir / META_FILE, json.dumps(meta, indent=2) + "\n")
    return out_dir


def _expert_specs(meta: dict, model_dir: Path) -> list[tuple[str, Path, float]]:
    """(name, sub-directory, offset) of each expert in ``meta``, checked against ``model_dir``'s contents."""
    meta_path = model_dir / META_FILE
    entries = meta.get("experts")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{meta_path}: 'experts' must be a non-empty list of {{name, dir, offset}}")
    specs, seen = [], set()
    for entry in entries:
        if not isinstance(entry, dict) or not {"name", "dir", "offset"} <= set(entry):
            raise ValueError(f"{meta_path}: expert entry {entry!r} lacks name, dir or offset")
        name, sub = entry["name"], entry["dir"]
        if name in seen:
            raise ValueError(f"{meta_path}: expert {name!r} is listed twice")
        seen.add(name)
        if not isinstance(sub, str) or not _NAME.fullmatch(sub) or sub == META_FILE:
            raise ValueError(f"{meta_path}: expert {name!r}: dir {sub!r} must name a sub-directory of {model_dir}")
        path = model_dir / sub
        if not (path / META_FILE).is_file():
            raise ValueError(f"{meta_path}: expert {name!r}: {path} is not a model directory (no {META_FILE})")
        try:
            offset = float(entry["offset"])
        except (TypeError, ValueError):
            offset = math.nan
        if not math.isfinite(offset):
            raise ValueError(f"{meta_path}: expert {name!r}: offset {entry['offset']!r} is not a finite number")
        specs.append((str(name), path, offset))
    return specs


def _expert_scorer(path: Path) -> str:
    scorer = (_read_meta(path).get("features") or {}).get("scorer")
    if not isinstance(scorer, str):
        raise ValueError(f"{path / META_FILE}: no features.scorer")
    return scorer


def _copy_dir(source: Path, target: Path) -> None:
    """Replace ``target`` by a copy of ``source`` (copied beside it first; nothing when they are the same)."""
    if target.exists() and source.resolve() == target.resolve():
        return
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
