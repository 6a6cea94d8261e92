"""A general-English unigram over the scorer's tokens, from the ``wordfreq`` package's word frequencies.

Ghostbuster's weakest model is a unigram of broad human text. Our trigram reference (:mod:`detectors.ngram`)
is counted on whatever human text the user supplies, so it knows that text's domain and no other;
``wordfreq`` (Wikipedia, subtitles, news, books, web text and more, bundled in the PyPI package) gives
the same kind of model for English in general, with nothing to download.

Word frequencies become token frequencies by tokenizing every listed word the way it appears mid-sentence
(with a leading space) and giving each of its tokens the word's frequency. ``wordfreq`` lists words in
lower case, so a token's mass is shared by every token that is the same string up to case ("The", "the").
Tokens no listed word produces (punctuation, digits, markup) get their probability from the human-text
reference's own unigram, mixed in with weight ``backoff``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["general_token_logprobs"]


def general_token_logprobs(tokenizer, reference_unigram: np.ndarray, *, lang: str = "en",
                           backoff: float = 0.1) -> np.ndarray:
    """Natural-log probability of every vocabulary id under general ``lang`` text (float32, length = vocab).

    ``reference_unigram``: token counts of human text (:attr:`NgramModel.unigram`), the back-off for tokens
    that no listed word produces."""
    import wordfreq

    if not 0 < backoff < 1:
        raise ValueError(f"backoff must be in (0, 1), got {backoff}")
    vocab = len(reference_unigram)
    frequencies = wordfreq.get_frequency_dict(lang, wordlist="large")
    words = list(frequencies)
    pieces = tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    ids = np.fromiter((i for p in pieces for i in p), dtype=np.int64, count=int(lengths.sum()))
    weight = np.repeat(np.fromiter(frequencies.values(), dtype=np.float64, count=len(words)), lengths)
    mass = np.bincount(ids, weight, minlength=vocab)[:vocab]
    # Share each token's mass with the tokens that spell the same text in another case. The key is the decoded
    # text (lowercasing a byte-level piece would merge different bytes); a piece that decodes to no whole
    # character keeps its own key.
    keys = []
    for piece in tokenizer.convert_ids_to_tokens(list(range(vocab))):
        text = tokenizer.convert_tokens_to_string([piece]) if piece is not None else ""
        keys.append(text.lower() if "\ufffd" not in text else f"\0{piece}")
    _, key_of = np.unique(np.array(keys, dtype=str), return_inverse=True)
    mass = np.bincount(key_of, mass)[key_of]
    general = mass / mass.sum()
    backoff_p = (reference_unigram + 1.0) / (reference_unigram.sum() + vocab)
    return np.log((1 - backoff) * general + backoff * backoff_p).astype(np.float32)
