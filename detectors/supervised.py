"""Supervised detector: a small torch head over zero-shot statistics (and optionally MiniLM embeddings),
trained on labelled text, exported to ONNX and served with onnxruntime.

Pieces, each usable alone:

- :func:`zeroshot_features` turns :class:`~detectors.zeroshot.ZeroShotDetector` statistics into the feature
  matrix (:data:`ZEROSHOT_FEATURES`); :class:`FeatureSpec` names what a model reads.
- :class:`Head`: standardisation + logistic regression (``hidden=0``) or a one-hidden-layer MLP; outputs a
  logit, higher = machine. :func:`train_head` fits it full-batch (deterministic for a seed).
- :func:`fit` is the whole recipe: out-of-fold logits (stratified k-fold, or leave-one-group-out when groups
  are given) give honest accuracy, the probability calibration and the threshold at a target FPR; then the
  head is refitted on all rows and exported.
- :func:`save_model` / :class:`SupervisedDetector`: a versioned model directory (``model.onnx`` +
  ``detector.json`` with feature spec, scorer settings, training-data hashes, calibration, threshold,
  out-of-fold metrics and reliability data), served with onnxruntime (CUDA provider when torch sees a
  GPU, CPU provider otherwise).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from .calibration import threshold_at_fpr
from .files import write_text_atomic
from .probability import ProbabilityCalibration, reliability

__all__ = [
    "FORMAT", "ZEROSHOT_FEATURES", "FeatureSpec", "FitResult", "Head", "OnnxHead", "SupervisedDetector",
    "fit", "save_model", "train_head", "write_model_dir", "zeroshot_features",
]

FORMAT, VERSION = "corpus-hygiene-supervised", 1
ZEROSHOT_FEATURES = ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr", "likelihood_over_entropy")
"""Per-text zero-shot features; the last is the one-model Binoculars ratio (-log-ppl / entropy)."""


def zeroshot_features(stats: dict[str, np.ndarray]) -> np.ndarray:
    """(n, 6) float64 from ZeroShotDetector statistics; rows of unscorable texts are NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        derived = {"likelihood_over_entropy": stats["likelihood"] / stats["entropy"]}
    if "lrr" not in stats:  # caches written before LRR existed
        derived["lrr"] = stats["likelihood"] / np.minimum(stats["log_rank"], -1e-6)
    return np.column_stack([np.asarray({**stats, **derived}[name], dtype=np.float64) for name in ZEROSHOT_FEATURES])


@dataclass(frozen=True)
class FeatureSpec:
    """What the head reads: the zero-shot features of ``scorer`` (+ ``embedding`` vectors when named)."""

    scorer: str  # LoadedLM.name of the zero-shot scorer
    max_tokens: int = 512
    normalize: str = "none"
    embedding: str | None = None  # "all-MiniLM-L6-v2" or None

    @property
    def zeroshot(self) -> tuple[str, ...]:
        return ZEROSHOT_FEATURES


class Head(torch.nn.Module):
    """features -> logit. Standardisation is part of the module, so the ONNX graph takes raw features."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int = 0) -> None:
        super().__init__()
        n = len(mean)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.where(std > 0, std, 1.0), dtype=torch.float32))
        if hidden:
            self.net = torch.nn.Sequential(torch.nn.Linear(n, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 1))
        else:
            self.net = torch.nn.Linear(n, 1)
        self.hidden = hidden

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net((features - self.mean) / self.std)[:, 0]


def train_head(x: np.ndarray, y: np.ndarray, *, hidden: int = 0, epochs: int = 300, lr: float = 0.05,
               weight_decay: float = 1e-3, seed: int = 0) -> Head:
    """Full-batch AdamW on class-balanced binary cross-entropy."""
    x, y = _check_xy(x, y)
    torch.manual_seed(seed)
    head = Head(x.mean(0), x.std(0), hidden)
    features, target = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    positive = float(target.mean())
    weight = torch.where(target > 0, 0.5 / max(positive, 1e-9), 0.5 / max(1 - positive, 1e-9))
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(weight=weight)
    head.train()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss_fn(head(features), target).backward()
        optimizer.step()
    return head.eval()


def head_logits(head: Head, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return head(torch.as_tensor(x, dtype=torch.float32)).double().numpy()


def export_onnx(head: Head, path: Path) -> None:
    """ONNX graph with a dynamic batch axis: input ``features`` (float32, n x d) -> ``logit`` (n)."""
    example = torch.zeros(2, len(head.mean))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(head, (example,), str(path), input_names=["features"], output_names=["logit"],
                          dynamic_axes={"features": {0: "batch"}, "logit": {0: "batch"}}, opset_version=17,
                          dynamo=False)


class OnnxHead:
    """An exported head served by onnxruntime; ``providers`` default to CUDA when torch sees a GPU."""

    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        if providers is None:
            available = ort.get_available_providers()
            providers = ["CPUExecutionProvider"]
            if torch.cuda.is_available() and "CUDAExecutionProvider" in available:
                providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), providers=providers)

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        out = np.full(len(x), np.nan)
        ok = np.isfinite(x).all(1)
        if ok.any():
            out[ok] = self.session.run(["logit"], {"features": x[ok]})[0].astype(np.float64)
        return out


@dataclass
class FitResult:
    head: Head
    calibration: ProbabilityCalibration
    threshold: float  # on the logit; flag = logit >= threshold
    target_fpr: float
    oof_logits: np.ndarray  # out-of-fold logits, one per training row
    validation: str  # how the out-of-fold logits were produced
    metrics: dict  # out-of-fold metrics
    reliability: list[dict]
    hidden: int


def fit(x: np.ndarray, y: np.ndarray, *, groups: np.ndarray | None = None, folds: int = 5, hidden: int = 0,
        calibration: str = "isotonic", target_fpr: float = 0.01, seed: int = 0, epochs: int = 300) -> FitResult:
    """Out-of-fold logits (for metrics, calibration and threshold), then the final head on all rows."""
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold

    x, y = _check_xy(x, y)
    if groups is not None and len(set(groups)) > 1:
        splits = list(LeaveOneGroupOut().split(x, y, groups))
        validation = f"leave-one-group-out over {len(splits)} groups"
    else:
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
        validation = f"stratified {folds}-fold cross-validation"
    oof = np.zeros(len(y))
    for train, test in splits:
        oof[test] = head_logits(train_head(x[train], y[train], hidden=hidden, seed=seed, epochs=epochs), x[test])
    cal = ProbabilityCalibration.fit(oof, y, calibration)
    threshold = threshold_at_fpr(oof[y == 0], target_fpr)
    head = train_head(x, y, hidden=hidden, seed=seed, epochs=epochs)
    return FitResult(head, cal, threshold, target_fpr, oof, validation, binary_metrics(y, oof, threshold),
                     reliability(cal.predict(oof), y), hidden)


def binary_metrics(y: np.ndarray, score: np.ndarray, threshold: float | None = None) -> dict:
    """AUROC, AUPRC, TPR at 1 % / 5 % FPR (thresholds set on these same human rows), confusion at threshold."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, score = np.asarray(y), np.asarray(score, dtype=np.float64)
    human, machine = score[y == 0], score[y == 1]
    out = {"n": int(y.size), "n_human": int(human.size), "n_machine": int(machine.size)}
    both = human.size and machine.size
    out["auroc"] = float(roc_auc_score(y, score)) if both else None
    out["auprc"] = float(average_precision_score(y, score)) if both else None
    for fpr in (0.01, 0.05):
        out[f"tpr_at_{fpr:.0%}_fpr".replace("%", "pct")] = (
            float(np.mean(machine >= threshold_at_fpr(human, fpr))) if both else None
        )
    if threshold is not None:
        flag = score >= threshold
        out["threshold"] = float(threshold)
        out["confusion"] = {
            "tn": int(np.sum(~flag & (y == 0))), "fp": int(np.sum(flag & (y == 0))),
            "fn": int(np.sum(~flag & (y == 1))), "tp": int(np.sum(flag & (y == 1))),
        }
    return out


def save_model(result: FitResult, spec: FeatureSpec, out_dir: Path, training: dict) -> Path:
    """Write ``model.onnx`` and ``detector.json`` into ``out_dir`` (created; files replaced atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    features = {**asdict(spec), "zeroshot": list(ZEROSHOT_FEATURES)}
    return write_model_dir(out_dir, result, FORMAT, VERSION, features, training)


def write_model_dir(out_dir: Path, result: FitResult, fmt: str, version: int, features: dict,
                    training: dict) -> Path:
    """``model.onnx`` and ``detector.json`` of a fitted head (its format's feature settings in ``features``)."""
    tmp = out_dir / ".model.onnx.tmp"
    export_onnx(result.head, tmp)
    tmp.replace(out_dir / "model.onnx")
    meta = {
        "format": fmt,
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": features,
        "head": {"hidden": result.hidden, "n_features": int(len(result.head.mean))},
        "training": training,
        "validation": result.validation,
        "out_of_fold": result.metrics,
        "calibration": result.calibration.to_dict(),
        "threshold": {"logit": result.threshold, "target_fpr": result.target_fpr,
                      "chosen_on": "out-of-fold logits of the human training rows"},
        "reliability": result.reliability,
    }
    write_text_atomic(out_dir / "detector.json", json.dumps(meta, indent=2) + "\n")
    return out_dir


class SupervisedDetector:
    """Load a model directory and score texts: ``score`` = logit (higher = machine), ``probability`` = P(machine)."""

    def __init__(self, model_dir: str | Path, *, lm=None, device: str | None = None,
                 providers: list[str] | None = None, batch_size: int = 16) -> None:
        from .zeroshot import ZeroShotDetector

        model_dir = Path(model_dir)
        meta_path = model_dir / "detector.json"
        if not meta_path.is_file() or not (model_dir / "model.onnx").is_file():
            raise FileNotFoundError(f"{model_dir} is not a supervised model directory (needs detector.json and "
                                    "model.onnx; create one with `hygiene train-detector`)")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise ValueError(f"{meta_path}: format {self.meta.get('format')!r} v{self.meta.get('version')} is not "
                             f"{FORMAT!r} v{VERSION}")
        features = dict(self.meta["features"])
        features.pop("zeroshot", None)
        self.spec = FeatureSpec(**features)
        if lm is None:
            from .lm import load_scorer

            lm = load_scorer(self.spec.scorer, device=device)
        if lm.name != self.spec.scorer:
            raise ValueError(f"model was trained on features of scorer {self.spec.scorer!r}, got {lm.name!r}")
        self.zeroshot = ZeroShotDetector(lm, max_tokens=self.spec.max_tokens, batch_size=batch_size,
                                         normalize=self.spec.normalize)
        self.lm = lm
        self.encoder = None
        if self.spec.embedding:
            from .embed import SentenceEncoder

            self.encoder = SentenceEncoder(device=device)
        self.head = OnnxHead(model_dir / "model.onnx", providers)
        self.calibration = ProbabilityCalibration.from_dict(self.meta["calibration"])
        self.threshold = float(self.meta["threshold"]["logit"])
        self.max_tokens = self.spec.max_tokens
        self.name = f"supervised:{model_dir.name}"

    def features(self, texts: list[str], stats: dict[str, np.ndarray] | None = None) -> np.ndarray:
        stats = stats if stats is not None else self.zeroshot.statistics(texts)
        x = zeroshot_features(stats)
        if self.encoder is not None:
            x = np.hstack([x, self.encoder.encode(texts)])
        return x

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The zero-shot statistics plus ``supervised`` (logit) and ``p_machine`` (calibrated)."""
        stats = self.zeroshot.statistics(texts)
        logit = self.head(self.features(texts, stats))
        return {**stats, "supervised": logit, "p_machine": self.calibration.predict(logit)}

    def score(self, texts: list[str]) -> np.ndarray:
        return self.statistics(texts)["supervised"]

    def probability(self, texts: list[str]) -> np.ndarray:
        return self.statistics(texts)["p_machine"]


def _check_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features must be (n, d) with n = len(labels); got {x.shape} and {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (human) or 1 (machine)")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN/inf (unscorable texts); drop those rows first")
    if len(set(y.tolist())) < 2:
        raise ValueError("training needs both human (0) and machine (1) rows")
    return x, y.astype(np.int64)
