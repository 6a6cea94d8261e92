"""A learned detector over token-distribution features (:mod:`detectors.features`), saved as a model directory.

The successor of :mod:`detectors.supervised` for feature families beyond the six summary statistics: the
same head (:class:`~detectors.supervised.Head`, standardisation inside, logistic regression or a small MLP),
the same out-of-fold protocol (:func:`~detectors.supervised.fit`), ONNX export and onnxruntime serving; what
is new is what it reads. A model directory holds ``model.onnx``, ``detector.json`` (format
``corpus-hygiene-features``: feature families and names, scorer, window, chat prompt, training-data hashes,
out-of-fold metrics, calibration, threshold) and, when a family of ``NEEDS_REFERENCE`` is used,
``reference.npz``: the human-text n-gram model built at training time from text the user supplied (with the
general-English unigram of :mod:`detectors.wordfreq_ref` for ``general``, ``rarity`` and ``memo``). The
directory alone is enough to load it: :func:`load_trained` opens any format, the two-expert directories of
:mod:`detectors.experts` included.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .features import GENERAL_FAMILIES, compute_features, families_contexts, feature_names, sentence_ends
from .probability import ProbabilityCalibration
from .shipped import SHIPPED_MODELS
from .tokens import DEFAULT_CHAT_PROMPT, TokenScorer

__all__ = ["SHIPPED_DIR", "SHIPPED_CHAT_DIR", "FORMAT", "FeatureConfig", "FeatureDetector", "featurize",
           "fit_reference", "load_trained", "save_feature_model"]

FORMAT, VERSION = "corpus-hygiene-features", 1
REFERENCE_FILE = "reference.npz"
NEEDS_REFERENCE = ("ref", *GENERAL_FAMILIES)  # families computed against reference.npz
_ZEROSHOT = ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr")
SHIPPED_DIR = SHIPPED_MODELS["features"]
"""The shipped (opt-in) feature detector's model directory: head, threshold, calibration; see its detector.json."""
SHIPPED_CHAT_DIR = SHIPPED_MODELS["features-chat"]
"""The opt-in detector for chat-model text: trained on the GPT-3.5/4 sets, with the general-English unigram."""


@dataclass(frozen=True)
class FeatureConfig:
    """What a learned detector reads: feature ``families`` of ``scorer``'s per-token statistics."""

    scorer: str
    families: tuple[str, ...]
    max_tokens: int = 512
    normalize: str = "none"
    chat_prompt: str = DEFAULT_CHAT_PROMPT
    reference: str | None = None  # file name of the n-gram reference inside the model directory

    def __post_init__(self) -> None:
        feature_names(self.families)  # validates the family names
        needing = [f for f in self.families if f in NEEDS_REFERENCE]
        if needing and self.reference is None:
            raise ValueError(f"the {', '.join(needing)} famil{'ies need' if len(needing) > 1 else 'y needs'} a "
                             "human-text reference model")

    @property
    def names(self) -> tuple[str, ...]:
        return feature_names(self.families)

    @property
    def contexts(self) -> tuple[str, ...]:
        return families_contexts(self.families)


def fit_reference(lm, human_texts: list[str], source: str, families: tuple[str, ...] = ("ref",)):
    """The reference model of ``families``: a trigram model counted over ``human_texts`` in the scorer's tokens,
    with the general-English unigram attached when ``general``, ``rarity`` or ``memo`` is among them."""
    from .ngram import NgramModel

    texts = [t for t in human_texts if t.strip()]
    if not texts:
        raise ValueError("the reference model needs human text (none given)")
    ids = lm.tokenizer(texts, add_special_tokens=False)["input_ids"]
    model = NgramModel.fit(ids, len(lm.tokenizer), {"source": source})
    if any(f in GENERAL_FAMILIES for f in families):
        from .wordfreq_ref import general_token_logprobs

        model = model.with_general(general_token_logprobs(lm.tokenizer, model.unigram))
    return model


def featurize(scorer: TokenScorer, config: FeatureConfig, texts: list[str], *, reference=None,
              chunk: int = 64, advance=None) -> np.ndarray:
    """(n, len(config.names)) features of ``texts``, scored ``chunk`` texts at a time (NaN rows: unscorable).
    ``advance(k)`` is called after each chunk (a progress hook)."""
    boundary = sentence_ends(scorer.lm.tokenizer) if "dist" in config.families else None
    rows = []
    for start in range(0, len(texts), chunk):
        arrays = scorer.arrays(texts[start:start + chunk])
        feats = compute_features(arrays, config.families, reference=reference, boundary=boundary)
        rows.append(np.column_stack([feats[name] for name in config.names]))
        if advance is not None:
            advance(arrays.size)
    return np.vstack(rows) if rows else np.zeros((0, len(config.names)))


def save_feature_model(result, config: FeatureConfig, out_dir: Path, training: dict, reference=None) -> Path:
    """Write ``model.onnx``, ``detector.json`` (and ``reference.npz``) for a :func:`supervised.fit` result."""
    from .supervised import write_model_dir

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.reference is not None:
        if reference is None:
            raise ValueError("config names a reference model but none was given")
        tmp = out_dir / f".{config.reference}.tmp.npz"
        reference.save(tmp)
        tmp.replace(out_dir / config.reference)
    features = {**asdict(config), "families": list(config.families), "names": list(config.names)}
    return write_model_dir(out_dir, result, FORMAT, VERSION, features, training)


class FeatureDetector:
    """Load a ``corpus-hygiene-features`` model directory; ``score`` = logit (higher = machine)."""

    def __init__(self, model_dir: str | Path, *, lm=None, device: str | None = None,
                 providers: list[str] | None = None, batch_size: int = 16) -> None:
        from .supervised import OnnxHead

        model_dir = Path(model_dir)
        self.meta = _read_meta(model_dir)
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise ValueError(f"{model_dir}: format {self.meta.get('format')!r} v{self.meta.get('version')} is not "
                             f"{FORMAT!r} v{VERSION}")
        spec = {k: v for k, v in self.meta["features"].items() if k != "names"}
        self.config = FeatureConfig(**{**spec, "families": tuple(spec["families"])})
        if list(self.config.names) != self.meta["features"]["names"]:
            raise ValueError(f"{model_dir}: feature names differ from this version's {self.config.names}")
        self.reference = None
        if self.config.reference is not None:
            from .ngram import NgramModel

            self.reference = NgramModel.load(model_dir / self.config.reference)
        if lm is None:
            from .lm import load_scorer

            lm = load_scorer(self.config.scorer, device)
        self.lm = lm
        if self.lm.name != self.config.scorer:
            raise ValueError(f"model was trained on features of scorer {self.config.scorer!r}, got {self.lm.name!r}")
        self.scorer = TokenScorer(self.lm, contexts=self.config.contexts, max_tokens=self.config.max_tokens,
                                  batch_size=batch_size, normalize=self.config.normalize,
                                  chat_prompt=self.config.chat_prompt)
        self._boundary = sentence_ends(self.lm.tokenizer) if "dist" in self.config.families else None
        self.head = OnnxHead(model_dir / "model.onnx", providers)
        self.calibration = ProbabilityCalibration.from_dict(self.meta["calibration"])
        self.threshold = float(self.meta["threshold"]["logit"])
        self.max_tokens = self.config.max_tokens
        self.name = f"features:{model_dir.name}"

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Zero-shot statistics, every feature, ``supervised`` (logit) and ``p_machine``, from one pass per
        context; NaN for unscorable texts (with ``reason``)."""
        return self.statistics_of(self.scorer.arrays(texts))

    def statistics_of(self, arrays) -> dict[str, np.ndarray]:
        """:meth:`statistics` from the per-token arrays of this detector's scorer (``self.scorer.arrays``)."""
        zeroshot = compute_features(arrays, ("zeroshot",))
        features = compute_features(arrays, self.config.families, reference=self.reference,
                                    boundary=self._boundary)
        logit = self.head(np.column_stack([features[name] for name in self.config.names]))
        return {**{k: zeroshot[k] for k in _ZEROSHOT}, **features, "n_tokens": arrays.lengths.astype(np.int64),
                "truncated": arrays.truncated, "reason": arrays.reason, "supervised": logit,
                "p_machine": self.calibration.predict(logit)}

    def score(self, texts: list[str]) -> np.ndarray:
        return self.statistics(texts)["supervised"]

    def probability(self, texts: list[str]) -> np.ndarray:
        return self.statistics(texts)["p_machine"]


def load_trained(model_dir: str | Path, **kwargs):
    """The detector of a model directory from ``hygiene train-detector``, whichever format it has."""
    from .experts import FORMAT as EXPERTS_FORMAT
    from .experts import ExpertsDetector
    from .supervised import FORMAT as SUPERVISED_FORMAT
    from .supervised import SupervisedDetector

    fmt = _read_meta(Path(model_dir)).get("format")
    if fmt == FORMAT:
        return FeatureDetector(model_dir, **kwargs)
    if fmt == EXPERTS_FORMAT:
        return ExpertsDetector(model_dir, **kwargs)
    if fmt == SUPERVISED_FORMAT:
        return SupervisedDetector(model_dir, **kwargs)
    raise ValueError(f"{model_dir}: unknown model format {fmt!r}")


def _read_meta(model_dir: Path) -> dict:
    """detector.json of a model directory; a head's formats also need model.onnx (an experts directory keeps
    its heads in its sub-directories)."""
    from .experts import FORMAT as EXPERTS_FORMAT

    meta_path = model_dir / "detector.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else None
    if meta is None or (meta.get("format") != EXPERTS_FORMAT and not (model_dir / "model.onnx").is_file()):
        raise FileNotFoundError(f"{model_dir} is not a trained model directory (needs detector.json and "
                                "model.onnx; create one with `hygiene train-detector`)")
    return meta
