"""collapse_eval: metrics by hand, the per-generation filter, and the `tiny` preset end to end (real
WikiText-2, real GPT-2 training, real MiniLM embeddings), including resume after an interruption."""

from __future__ import annotations

import json
import math
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from collapse_eval import filters
from collapse_eval.arms import draw_budget, pool_sizes
from collapse_eval.collapse import bootstrap_ci, collapse_generation
from collapse_eval.config import ConfigError, load_collapse_config
from collapse_eval.corpus import default_source
from collapse_eval.runner import RunError, prepare, run_experiment
from hygiene.risk.measures import (
    distinct_n,
    hull_volume,
    repetition_rate,
    self_bleu,
    vendi_score,
    words,
    zipf_exponent,
)

# --- metrics with hand-checkable values -------------------------------------------------------------


def test_distinct_n_by_hand():
    tok = words(["a b a b", "a b c"])  # unigrams: 7 total, 3 distinct; bigrams: ab ba ab ab bc -> 5 total, 3 distinct
    assert distinct_n(tok, 1) == pytest.approx(3 / 7)
    assert distinct_n(tok, 2) == pytest.approx(3 / 5)
    assert math.isnan(distinct_n(words(["a"]), 2))


def test_self_bleu_identical_disjoint_and_partial():
    same = words(["the cat sat on the mat today"] * 4)
    assert self_bleu(same) == pytest.approx(1.0)
    disjoint = words(["a b c d e", "f g h i j", "k l m n o"])
    assert self_bleu(disjoint, smoothing=0.0) == 0.0
    assert 0.0 < self_bleu(disjoint, smoothing=0.1) < 0.05
    # one shared 4-gram out of two: p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2 for both docs, equal lengths
    pair = words(["a b c d x", "a b c d y"])
    assert self_bleu(pair, smoothing=0.0) == pytest.approx((4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25)


def test_self_bleu_clips_by_the_best_other_reference():
    # doc0 has "a" x3; doc1 has it x2, doc2 x1 -> doc0's unigram matches are clipped to 2 (the best *other* doc)
    docs = words(["a a a", "a a b", "a c d"])
    from hygiene.risk.measures import _clipped_matches, _ngram_table

    matches, total = _clipped_matches(*_ngram_table(docs, 1), 3)
    assert total.tolist() == [3, 3, 3]
    assert matches.tolist() == [2, 2, 1]  # doc1: "a" x2 clipped by doc0's 3 -> 2, "b" unmatched; doc2: "a" only


def test_vendi_identical_vs_orthogonal():
    assert vendi_score(np.eye(6)) == pytest.approx(6.0)
    assert vendi_score(np.tile([[0.3, 0.4, 0.5]], (10, 1))) == pytest.approx(1.0)
    two_clusters = np.r_[np.tile([[1.0, 0.0]], (5, 1)), np.tile([[0.0, 1.0]], (5, 1))]
    assert vendi_score(two_clusters) == pytest.approx(2.0)


def test_zipf_recovers_a_power_law():
    ranks = np.arange(1, 3001)
    assert zipf_exponent(np.round(1e6 * ranks ** -1.3)) == pytest.approx(1.3, abs=0.02)
    assert zipf_exponent(np.round(1e6 * ranks ** -0.8)) == pytest.approx(0.8, abs=0.02)


def test_repetition_rate_and_hull_volume():
    assert repetition_rate(words(["a b c d a b c d"])) == pytest.approx(1 - 4 / 5)  # 5 4-grams, 4 distinct
    assert repetition_rate(words(["a b c d e f"])) == 0.0
    cube = np.array([[x, y, z] for x in (0, 2) for y in (0, 1) for z in (0, 3)], dtype=float)
    assert hull_volume(cube) == pytest.approx(6.0)


# --- collapse point, bootstrap, budget, filter ----------------------------------------------------


def test_collapse_generation_interpolates_and_censors():
    assert collapse_generation([1.0, 1.1, 1.3], 0.15) == pytest.approx(1.25)
    assert collapse_generation([1.0, 1.2], 0.15) == pytest.approx(0.75)
    assert math.isnan(collapse_generation([1.0, 1.05, 1.1], 0.15))
    est, lo, hi = bootstrap_ci(np.array([1.0, 2.0, 3.0]), np.mean, n_boot=500)
    assert est == 2.0 and 1.0 <= lo < est < hi <= 3.0


def test_budget_is_fixed_whatever_survives():
    rng = np.random.default_rng(0)
    kept = np.r_[np.ones(7), np.zeros(93)]
    idx = draw_budget(kept, 50, rng)
    assert len(idx) == 50 and set(idx) == set(range(7))  # 7 rows repeated in passes to fill 50
    assert np.bincount(idx).max() - np.bincount(idx)[:7].min() <= 1
    weighted = draw_budget(np.r_[np.full(10, 0.5), np.zeros(10)], 40, rng)
    assert len(weighted) == 40 and weighted.max() < 10
    with pytest.raises(ValueError, match="removed every row"):
        draw_budget(np.zeros(5), 10, rng)


def test_oracle_filter_is_exact_and_detector_learns_direction():
    synthetic = np.r_[np.zeros(30, bool), np.ones(70, bool)]
    oracle = filters.oracle_filter(synthetic)
    assert oracle.precision == 1.0 and oracle.recall == 1.0 and not oracle.keep[30:].any()
    rng = np.random.default_rng(0)
    human = [" ".join(rng.choice(["the", "river", "of", "in", "was", "a", "city"], 12)) for _ in range(80)]
    machine = [" ".join(rng.choice(["zq", "xv", "the", "kk", "qq"], 12)) for _ in range(80)]
    none = np.zeros((0, 4))
    score = filters.fit_detector("tfidf", filters.Labelled(human[:40], none), filters.Labelled(machine[:40], none),
                                 seed=0)
    texts = human[40:] + machine[40:]
    out = filters.apply_filter(score(texts, none), texts, np.r_[np.zeros(40, bool), np.ones(40, bool)],
                               load_collapse_config(preset="tiny").filter)
    assert out.auroc > 0.95 and out.precision > 0.9 and out.recall > 0.9


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset"):
        load_collapse_config(preset="huge")
    with pytest.raises(ConfigError, match="human_shares"):
        load_collapse_config(preset="tiny", overrides={"pool.human_shares": [1.5]})
    bad = tmp_path / "c.toml"
    bad.write_text("generations = ")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_collapse_config(bad)
    assert load_collapse_config(preset="gpu").model.n_layer == 12


# --- the tiny preset end to end --------------------------------------------------------------------

needs_corpus = pytest.mark.skipif(not default_source().exists(), reason=f"base corpus absent: {default_source()}")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("collapse") / "tiny"
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run([sys.executable, "-m", "hygiene_cli", "collapse", "--preset", "tiny", "--out", str(out),
                          "--quiet"], capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"tiny preset: {elapsed:.1f} s wall, {used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime:.1f} s CPU")
    assert run.returncode == 0, run.stderr[-3000:]
    return out, elapsed


@needs_corpus
def test_tiny_preset_end_to_end(tiny_run):
    out, elapsed = tiny_run
    rows = json.loads((out / "results.json").read_text())
    table = pq.read_table(out / "results.parquet")
    assert table.num_rows == len(rows)
    config = load_collapse_config(preset="tiny")
    n_chains = len(config.seeds) * len(config.arms)
    assert len(rows) == n_chains * (config.generations + 1)
    for column in ("seed", "arm", "mode", "generation", "human_share", "synthetic_fraction", "filter_precision",
                   "filter_recall", "temperature", "perplexity", "perplexity_ratio", "distinct_2", "self_bleu4",
                   "vendi", "hull_volume"):
        assert column in table.column_names, column
    by = {(r["arm"], r["generation"]): r for r in rows}
    last = config.generations
    # every arm of every generation trained on the same number of tokens and steps
    assert len({(r["train_tokens"], r.get("train_steps")) for r in rows if r["generation"] > 0}) == 1
    # the trend: replace-mode unfiltered self-training raises held-out perplexity and loses diversity
    assert by[("unfiltered", last)]["perplexity"] > 1.05 * by[("unfiltered", 0)]["perplexity"]
    assert by[("unfiltered", last)]["distinct_2"] < by[("unfiltered", 0)]["distinct_2"]
    assert by[("unfiltered", last)]["synthetic_fraction"] > 0.5
    # the oracle removes exactly the synthetic rows; the fitted detector catches most of them
    for g in range(1, last + 1):
        assert by[("oracle", g)]["filter_precision"] == 1.0 and by[("oracle", g)]["filter_recall"] == 1.0
        assert by[("oracle", g)]["synthetic_fraction"] == 0.0
        assert by[("filtered", g)]["filter_recall"] > 0.8 and by[("filtered", g)]["filter_precision"] > 0.8
    assert by[("oracle", last)]["perplexity"] < by[("unfiltered", last)]["perplexity"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["comparisons"] and "delay_ratio_filtered" in summary["comparisons"][0]
    page = (out / "report.html").read_text()
    assert "<svg" in page and "data:image" not in page and "Collapse generation per condition" in page


@needs_corpus
def test_resume_recomputes_only_the_missing_generation(tiny_run, tmp_path):
    out, _ = tiny_run
    copy = tmp_path / "resumed"
    shutil.copytree(out, copy)
    chain = copy / "seed0" / "unfiltered-replace-h0.34-t0.8"
    last = load_collapse_config(preset="tiny").generations
    # simulate a crash during the last generation: markers and checkpoints up to last-1, debris of the last
    before = json.loads((chain / f"gen{last:02d}.json").read_text())
    (chain / f"gen{last:02d}.json").unlink()
    (chain / f"model-gen{last:02d}.pt").unlink()
    (chain / f".gen{last:02d}.json.tmp-999").write_text("{half written")
    kept = {p.name: p.stat().st_mtime_ns for p in chain.glob("gen*.json")}
    run_experiment(load_collapse_config(preset="tiny"), copy)
    assert {p.name: p.stat().st_mtime_ns for p in chain.glob("gen*.json") if p.name in kept} == kept
    after = json.loads((chain / f"gen{last:02d}.json").read_text())
    # derived randomness: the resumed generation is the one an unbroken run computed
    assert after["perplexity"] == pytest.approx(before["perplexity"], rel=1e-6)
    assert after["distinct_2"] == pytest.approx(before["distinct_2"], rel=1e-6)


@needs_corpus
def test_changed_config_is_refused(tiny_run):
    out, _ = tiny_run
    with pytest.raises(RunError, match="different configuration"):
        prepare(load_collapse_config(preset="tiny", overrides={"train.epochs": 1}), out)


@needs_corpus
def test_accumulate_human_only_and_white_box_weighting(tmp_path):
    """A micro run of the paths `tiny` leaves out: accumulate mode, the human-only control, and the
    white-box likelihood detector with importance weights instead of removal."""
    config = load_collapse_config(preset="tiny", overrides={
        "generations": 2, "arms": ["unfiltered", "filtered", "human_only"], "modes": ["accumulate"],
        "embeddings": False, "model.context": 32, "model.n_embd": 32, "model.vocab_size": 400,
        "data.eval_rows": 40, "data.label_rows": 40, "data.prompt_rows": 100, "data.max_chars": 200_000,
        "train.budget_tokens": 3200, "train.epochs": 1, "pool.pool_tokens": 4800, "sample.metric_samples": 20,
        "filter.detector": "likelihood", "filter.action": "weight"})
    threads = torch.get_num_threads()
    run_experiment(config, tmp_path)
    assert torch.get_num_threads() == threads  # the run's CPU thread cap does not outlive it
    rows = json.loads((tmp_path / "results.json").read_text())
    by = {(r["arm"], r["generation"]): r for r in rows}
    n_human, n_synth = pool_sizes(config, 0.34)
    assert by[("unfiltered", 1)]["pool_rows"] == n_human + n_synth
    assert by[("unfiltered", 2)]["pool_rows"] == n_human + 2 * n_synth  # every generation's samples are kept
    assert by[("unfiltered", 2)]["mode"] == "accumulate"
    assert by[("human_only", 2)]["synthetic_fraction"] == 0.0 and by[("human_only", 2)]["human_share"] == 1.0
    assert {r["train_steps"] for r in rows if r["generation"]} == {4}  # 3200 tokens / 32 = 100 rows = 4 batches
    assert math.isfinite(by[("filtered", 1)]["filter_auroc"]) and math.isfinite(by[("filtered", 2)]["filter_recall"])
