"""The collapse experiment: seeds x conditions x generations, one results row per finished generation.

Generation 0 (per seed) is a GPT-2 trained on `budget` human rows. Each later generation of a chain
samples from the previous model, builds the pool of its arm and mode, filters it, draws exactly the
budget of rows, trains a new model and is evaluated. A finished generation leaves `genNN.json` (its row)
beside its checkpoint; a rerun with the same config continues every chain after its last finished
generation. Randomness is derived from (seed, chain, generation), so a resumed run equals an unbroken one.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hygiene.errors import HygieneError
from hygiene.io.atomic import atomic_path, write_json
from hygiene.progress import NullProgress, Progress
from hygiene.risk.measures import text_metrics, vendi_score

from . import filters
from .arms import Condition, conditions, draw_budget, pool_sizes
from .config import CollapseConfig
from .corpus import HumanSplits, chunk, read_documents, split_rows
from .sample import sample_rows, sequence_logprob
from .tokenizer import TextCodec, load_codec, train_bpe
from .train import build_model, perplexity, pick_device, train

__all__ = ["RunError", "Experiment", "prepare", "run_chain", "run_experiment"]


class RunError(HygieneError):
    """The output directory holds a different run, or the run cannot proceed."""


def _rng(*parts: int | str) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in parts])


def _seed(*parts: int | str) -> int:
    return int(_rng(*parts).integers(2**31 - 1))


@dataclass
class Experiment:
    """What every chain of a run shares: config, output dir, device, tokenizer and the human splits."""

    config: CollapseConfig
    out: Path
    device: torch.device
    codec: TextCodec
    splits: HumanSplits

    @property
    def budget_rows(self) -> int:
        return self.config.train.budget_tokens // self.config.model.context


def prepare(config: CollapseConfig, out: Path) -> Experiment:
    """Check or record the config in `out`, load the corpus, train (or reload) the tokenizer, split rows."""
    out.mkdir(parents=True, exist_ok=True)
    recorded = out / "config.json"
    wanted = config.model_dump(mode="json")
    if recorded.exists():
        try:  # validated, so settings added since (with their defaults) do not count as a change
            same = CollapseConfig.model_validate(json.loads(recorded.read_text())) == config
        except ValueError:
            same = False
        if not same:
            raise RunError(f"{out} holds a run with a different configuration; use another --out")
    else:
        write_json(recorded, wanted)
    docs = read_documents(config.data.source, text_column=config.data.text_column, max_chars=config.data.max_chars)
    tok_path = out / "tokenizer.json"
    if config.model.pretrained:
        codec = load_codec(config.model.pretrained)
    elif tok_path.exists():
        codec = load_codec(tok_path)
    else:
        codec = train_bpe(docs, config.model.vocab_size)
        with atomic_path(tok_path) as tmp:
            codec.save(tmp)
    rows = chunk(codec.encode(docs), config.model.context, codec.eos_id)
    d = config.data
    splits = split_rows(rows, eval_rows=d.eval_rows, label_rows=d.label_rows, prompt_rows=d.prompt_rows,
                        min_train=config.train.budget_tokens // config.model.context)
    return Experiment(config, out, pick_device(config.model.device), codec, splits)


@contextmanager
def cpu_threads(config: CollapseConfig) -> Iterator[None]:
    """Cap torch's and numba's threads for a run on CPU, and give the caller's settings back afterwards.

    Oversubscribed cores make multi-threaded ops crawl; and once numba's parallel dedup kernels have run
    with 2 threads, torch training in the same process cost 19x more CPU (measured): cap both.
    """
    if pick_device(config.model.device).type != "cpu" or not config.cpu_threads:
        yield
        return
    import numba

    saved = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(config.cpu_threads)
    numba.set_num_threads(min(config.cpu_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        numba.set_num_threads(saved[1])


def _save_model(model: torch.nn.Module, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)


def _fresh_model(exp: Experiment, seed: int):
    return build_model(exp.config.model, exp.codec.vocab_size, exp.codec.eos_id, seed=_seed(seed, "init"))


def _load_model(exp: Experiment, seed: int, path: Path):
    model = _fresh_model(exp, seed)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(exp.device).eval()


def _generation0(exp: Experiment, seed: int) -> tuple[Path, float]:
    """The shared human-trained generation 0 of a seed (trained once, reused by every chain)."""
    base = exp.out / f"seed{seed}" / "gen0"
    ckpt, meta = base / "model.pt", base / "gen0.json"
    if meta.exists() and ckpt.exists():
        return ckpt, json.loads(meta.read_text())["perplexity"]
    rng = _rng(seed, "gen0")
    rows = exp.splits.train[draw_budget(np.ones(len(exp.splits.train)), exp.budget_rows, rng)]
    model = _fresh_model(exp, seed)
    stats = train(model, rows, exp.config.train, seed=_seed(seed, "gen0-order"), device=exp.device)
    ppl = perplexity(model, exp.splits.eval, device=exp.device)
    _save_model(model, ckpt)
    write_json(meta, {"perplexity": ppl, **stats})
    return ckpt, ppl


def _sample(exp: Experiment, model, n: int, cond: Condition, rng: np.random.Generator, seed: int) -> np.ndarray:
    s = exp.config.sample
    prompts = exp.splits.prompt[rng.choice(len(exp.splits.prompt), n, replace=n > len(exp.splits.prompt))]
    return sample_rows(model, prompts[:, :s.prompt_tokens], exp.config.model.context - s.prompt_tokens,
                       temperature=cond.temperature, top_k=s.top_k, top_p=s.top_p, batch_size=s.batch_size,
                       seed=seed, device=exp.device)


def _evaluate(exp: Experiment, model, cond: Condition, seed: int, ppl0: float, chain_dir: Path,
              generation: int) -> dict[str, Any]:
    """Held-out perplexity, and diversity metrics of samples from fixed per-seed prompts (equal n)."""
    s = exp.config.sample
    ppl = perplexity(model, exp.splits.eval, device=exp.device)
    order = _rng(seed, "metric-prompts").permutation(len(exp.splits.prompt))[:s.metric_samples]
    prompts = exp.splits.prompt[order, :s.prompt_tokens]
    rows = sample_rows(model, prompts, exp.config.model.context - s.prompt_tokens, temperature=cond.temperature,
                       top_k=s.top_k, top_p=s.top_p, batch_size=s.batch_size,
                       seed=_seed(seed, cond.key, generation, "metric"), device=exp.device)
    texts = exp.codec.decode(rows[:, s.prompt_tokens:])
    metrics = {"perplexity": ppl, "perplexity_ratio": ppl / ppl0, **text_metrics(texts)}
    if exp.config.embeddings:
        from .embed import embed

        emb = embed(texts, device=str(exp.device))
        metrics["vendi"] = vendi_score(emb)
        with atomic_path(chain_dir / f"emb{generation:02d}.npy") as tmp, open(tmp, "wb") as handle:
            np.save(handle, emb.astype(np.float16))
    else:
        metrics["vendi"] = float("nan")
    return metrics


def _last_finished(chain_dir: Path) -> int:
    done = [int(p.stem[3:]) for p in chain_dir.glob("gen[0-9][0-9].json")]
    return max(done, default=-1)


def _next_training_rows(exp: Experiment, model, cond: Condition, seed: int, generation: int,
                        accumulated: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(training rows, accumulated synthetic rows, pool/filter stats) for `generation` of a chain."""
    cfg = exp.config
    rng = _rng(seed, cond.key, generation, "data")
    if cond.arm == "human_only":
        idx = draw_budget(np.ones(len(exp.splits.train)), exp.budget_rows, rng)
        return exp.splits.train[idx], accumulated, {"pool_rows": len(exp.splits.train), "synthetic_fraction": 0.0}
    n_human, n_synth = pool_sizes(cfg, cond.human_share)
    human = exp.splits.train[_rng(seed, "human-pool").permutation(len(exp.splits.train))[:n_human]]
    fresh = _sample(exp, model, n_synth, cond, rng, _seed(seed, cond.key, generation, "pool"))
    synth_all = np.concatenate([accumulated, fresh]) if cond.mode == "accumulate" else fresh
    pool = np.concatenate([human, synth_all])
    synthetic = np.r_[np.zeros(len(human), bool), np.ones(len(synth_all), bool)]
    stats: dict[str, Any] = {"pool_rows": len(pool), "pool_human_share": len(human) / len(pool)}
    if cond.arm == "unfiltered":
        outcome = None
        weight = np.ones(len(pool))
    elif cond.arm == "oracle":
        outcome = filters.oracle_filter(synthetic)
        weight = outcome.weight
    else:
        texts = exp.codec.decode(pool)
        label_rows = exp.splits.label
        machine_rows = _sample(exp, model, len(label_rows), cond, rng, _seed(seed, cond.key, generation, "label"))
        logprob = lambda r: sequence_logprob(model, r, cfg.sample.prompt_tokens, device=exp.device)
        detector = filters.fit_detector(
            cfg.filter.detector, filters.Labelled(exp.codec.decode(label_rows), label_rows),
            filters.Labelled(exp.codec.decode(machine_rows), machine_rows), seed=seed, logprob=logprob)
        outcome = filters.apply_filter(detector(texts, pool), texts, synthetic, cfg.filter)
        weight = outcome.weight
    idx = draw_budget(weight, exp.budget_rows, rng)
    stats["synthetic_fraction"] = float(synthetic[idx].mean())
    stats["unique_train_rows"] = int(len(np.unique(idx)))
    if outcome is not None:
        stats.update(filter_precision=outcome.precision, filter_recall=outcome.recall, filter_auroc=outcome.auroc,
                     filter_removed_detector=outcome.removed_by_detector,
                     filter_removed_dedup=outcome.removed_by_dedup)
    return pool[idx], synth_all, stats


def _row(cond: Condition, seed: int, generation: int, exp: Experiment) -> dict[str, Any]:
    cfg = exp.config
    return {"seed": seed, "condition": cond.key, "arm": cond.arm, "mode": cond.mode, "generation": generation,
            "human_share": cond.human_share, "temperature": cond.temperature, "top_k": cfg.sample.top_k,
            "top_p": cfg.sample.top_p, "init": cfg.train.init, "train_tokens": exp.budget_rows * cfg.model.context,
            "synthetic_fraction": 0.0, "filter_precision": float("nan"), "filter_recall": float("nan"),
            "filter_auroc": float("nan")}


def run_chain(exp: Experiment, cond: Condition, seed: int, stop_after: int | None = None) -> None:
    """Run (or resume) one chain up to generation `stop_after` (default: `config.generations`)."""
    cfg = exp.config
    chain_dir = exp.out / f"seed{seed}" / cond.key
    chain_dir.mkdir(parents=True, exist_ok=True)
    gen0_ckpt, ppl0 = _generation0(exp, seed)
    last = _last_finished(chain_dir)
    if last < 0:
        t0 = time.perf_counter()
        model = _load_model(exp, seed, gen0_ckpt)
        row = {**_row(cond, seed, 0, exp), **_evaluate(exp, model, cond, seed, ppl0, chain_dir, 0)}
        row["wall_s"] = time.perf_counter() - t0
        write_json(chain_dir / "gen00.json", row)
        last = 0
    ckpt = lambda g: gen0_ckpt if g == 0 else chain_dir / f"model-gen{g:02d}.pt"
    accum_path = lambda g: chain_dir / f"accumulated-gen{g:02d}.npy"
    end = cfg.generations if stop_after is None else min(cfg.generations, stop_after)
    for g in range(last + 1, end + 1):
        t0 = time.perf_counter()
        prev = _load_model(exp, seed, ckpt(g - 1))
        accumulated = np.load(accum_path(g - 1)) if g > 1 and cond.mode == "accumulate" and cond.samples_feed_training \
            else np.zeros((0, cfg.model.context), dtype=np.int32)
        rows, accumulated, stats = _next_training_rows(exp, prev, cond, seed, g, accumulated)
        t_data = time.perf_counter() - t0
        model = prev if cfg.train.init == "continue" else _fresh_model(exp, seed)
        train_stats = train(model, rows, cfg.train, seed=_seed(seed, cond.key, g, "order"), device=exp.device)
        t_train = time.perf_counter() - t0 - t_data
        if cond.mode == "accumulate" and cond.samples_feed_training:
            with atomic_path(accum_path(g)) as tmp, open(tmp, "wb") as handle:
                np.save(handle, accumulated)
        _save_model(model, ckpt(g))
        row = {**_row(cond, seed, g, exp), **stats, "train_steps": train_stats["steps"],
               "train_loss": train_stats["train_loss_mean"],
               **_evaluate(exp, model, cond, seed, ppl0, chain_dir, g),
               "wall_data_s": t_data, "wall_train_s": t_train}
        row["wall_s"] = time.perf_counter() - t0
        write_json(chain_dir / f"gen{g:02d}.json", row)  # the completion marker
        if not cfg.keep_checkpoints:
            for old in (ckpt(g - 1) if g > 1 else None, accum_path(g - 1)):
                if old is not None:
                    old.unlink(missing_ok=True)


def run_experiment(config: CollapseConfig, out: Path, progress: Progress | None = None) -> Path:
    """Every seed x condition chain (resuming finished generations), then the results table and report."""
    from .results import finalize

    progress = progress or NullProgress()
    with cpu_threads(config):
        exp = prepare(config, Path(out))
        chains = [(seed, cond) for seed in config.seeds for cond in conditions(config)]
        progress.start("generations", len(chains) * (config.generations + 1))
        # Generation-major order: an interrupted (or time-boxed) run has every chain at the same depth.
        for g in range(config.generations + 1):
            for seed, cond in chains:
                run_chain(exp, cond, seed, stop_after=g)
                progress.advance(1)
        progress.finish()
        return finalize(exp.out, config)
