"""One typed configuration for a collapse experiment, read from a TOML preset or file, overridable by keys.

The config holds values only; the loop lives in `runner`, the arms in `arms`, the filter in `filters`.
A run directory keeps the config it ran with, so a resumed run can refuse a changed one.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hygiene.config import ConfigError, read_toml  # one error type and one TOML reader for every config

__all__ = [
    "ARMS", "MODES", "CollapseConfig", "ConfigError", "PRESETS", "load_collapse_config", "preset_path",
]

ARMS = ("unfiltered", "filtered", "oracle", "human_only")
MODES = ("replace", "accumulate")
PRESETS = ("tiny", "cpu-small", "gpu")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelSettings(_Frozen):
    pretrained: str | None = Field(None, description="HF name or local dir to fine-tune (e.g. gpt2); None = "
                                                     "GPT-2 architecture from scratch with a BPE trained here")
    n_layer: int = Field(2, ge=1, le=48)
    n_embd: int = Field(128, ge=16, le=4096)
    n_head: int = Field(4, ge=1, le=64)
    context: int = Field(64, ge=16, le=2048, description="tokens per training row (= one chunk)")
    vocab_size: int = Field(2000, ge=300, le=100_000, description="BPE size when training a tokenizer")
    device: str | None = Field(None, description="cuda, cpu, ...; None = CUDA when available (bf16 there)")

    @model_validator(mode="after")
    def _heads(self) -> ModelSettings:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        return self


class DataSettings(_Frozen):
    source: str | None = Field(None, description="text/jsonl/parquet file or directory; None = "
                                                 "../shared/data/text/wikitext-2 beside the repository")
    text_column: str = "text"
    eval_rows: int = Field(500, ge=10, description="held-out human chunks for perplexity")
    label_rows: int = Field(300, ge=10, description="held-out human chunks to fit each generation's detector")
    prompt_rows: int = Field(2000, ge=10, description="held-out human chunks whose prefixes prompt sampling")
    max_chars: int | None = Field(None, ge=1000, description="read at most this many characters of the source")


class TrainSettings(_Frozen):
    budget_tokens: int = Field(60_000, ge=1000, description="training tokens per generation, every arm")
    epochs: float = Field(3.0, gt=0, description="passes over the budget; steps = epochs*budget/batch tokens")
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-3, gt=0)
    warmup_frac: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    init: Literal["base", "continue"] = Field("base", description="retrain every generation from the base init "
                                                                "(same seed / pretrained weights) or continue")


class SampleSettings(_Frozen):
    prompt_tokens: int = Field(8, ge=1, description="human prefix length; the rest of the row is generated")
    temperatures: list[float] = Field([1.0], min_length=1, description="sweep: one chain per temperature")
    top_k: int = Field(0, ge=0, description="0 = off")
    top_p: float = Field(1.0, gt=0, le=1)
    batch_size: int = Field(256, ge=1)
    metric_samples: int = Field(250, ge=20, description="samples per generation for diversity metrics (equal n)")

    @model_validator(mode="after")
    def _temps(self) -> SampleSettings:
        if any(t <= 0 for t in self.temperatures):
            raise ValueError("temperatures must be > 0")
        return self


class PoolSettings(_Frozen):
    """The 'web' each later generation is trained from: human rows plus the current model's samples."""

    pool_tokens: int = Field(120_000, ge=1000, description="human + synthetic tokens in the pool (replace mode)")
    human_shares: list[float] = Field([1 / 3], min_length=1, description="sweep: human fraction of pool tokens")

    @model_validator(mode="after")
    def _shares(self) -> PoolSettings:
        if any(not 0.0 <= s < 1.0 for s in self.human_shares):
            raise ValueError("human_shares must be in [0, 1)")
        return self


class FilterSettings(_Frozen):
    """The filtered arm: a detector fitted each generation on labelled human vs fresh samples, plus dedup."""

    detector: Literal["tfidf", "likelihood"] = Field("tfidf", description="char 2-4-gram TF-IDF + logistic "
                                                     "regression, or the generator's own per-token likelihood")
    threshold: float = Field(0.5, gt=0, lt=1, description="P(machine) at or above which a row is removed")
    action: Literal["remove", "weight"] = Field("remove", description="drop flagged rows, or resample rows "
                                                "with weight (1 - P(machine))**beta (Drayson et al.)")
    beta: float = Field(10.0, gt=0)
    dedup: bool = Field(True, description="also drop exact and near-duplicate rows (detectors.dedup)")


class CollapseSettings(_Frozen):
    ppl_rise: float = Field(0.15, gt=0, description="collapse = held-out perplexity >= (1 + ppl_rise) x gen 0")
    bootstrap: int = Field(2000, ge=100)


class CollapseConfig(_Frozen):
    name: str = "custom"
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    generations: int = Field(5, ge=1, le=100, description="generations after generation 0")
    arms: list[Literal["unfiltered", "filtered", "oracle", "human_only"]] = Field(list(ARMS), min_length=1)
    modes: list[Literal["replace", "accumulate"]] = Field(["replace"], min_length=1)
    model: ModelSettings = ModelSettings()
    data: DataSettings = DataSettings()
    train: TrainSettings = TrainSettings()
    sample: SampleSettings = SampleSettings()
    pool: PoolSettings = PoolSettings()
    filter: FilterSettings = FilterSettings()
    collapse: CollapseSettings = CollapseSettings()
    embeddings: bool = Field(True, description="MiniLM embeddings for Vendi score and hull volume")
    cpu_threads: int | None = Field(1, ge=1, description="torch threads on CPU; None = torch's default. On a shared "
                                    "2-core machine 1 thread trained 5x faster than 2 (measured)")
    keep_checkpoints: bool = Field(False, description="keep every generation's model (default: the latest only)")

    @model_validator(mode="after")
    def _sizes(self) -> CollapseConfig:
        if self.sample.prompt_tokens >= self.model.context:
            raise ValueError("sample.prompt_tokens must be shorter than model.context")
        if self.train.budget_tokens < self.model.context:
            raise ValueError("train.budget_tokens must hold at least one row of model.context tokens")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        return self


def preset_path(name: str) -> Path:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return Path(str(resources.files("collapse_eval") / "presets" / f"{name}.toml"))


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_collapse_config(path: str | Path | None = None, *, preset: str | None = None,
                         overrides: dict[str, Any] | None = None) -> CollapseConfig:
    """Preset (optional) <- TOML file (optional) <- dotted-key overrides such as {"train.epochs": 2}."""
    data: dict[str, Any] = read_toml(preset_path(preset)) if preset else {}
    if path is not None:
        data = _merge(data, read_toml(Path(path)))
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return CollapseConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid collapse configuration: {problems}") from exc
