"""Token ids for the collapse loop: a byte-level BPE trained on the base corpus, or a pretrained tokenizer.

Both sides expose the same three things: `encode(texts)`, `decode(ids)` and `eos_id` / `vocab_size`.
The BPE vocabulary is fitted on the whole base corpus (held-out rows included): that leaks only the
vocabulary, identically into every arm and generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

__all__ = ["TextCodec", "train_bpe", "load_codec"]

EOS = "<|endoftext|>"


class TextCodec:
    """A `tokenizers.Tokenizer` with batch encode/decode of plain id lists."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        eos = tokenizer.token_to_id(EOS)
        if eos is None:
            raise ValueError(f"tokenizer has no {EOS} token")
        self.eos_id = eos
        self.vocab_size = tokenizer.get_vocab_size()

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def decode(self, ids: np.ndarray | Sequence[Sequence[int]]) -> list[str]:
        return self.tokenizer.decode_batch([list(map(int, row)) for row in ids], skip_special_tokens=True)

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))


def train_bpe(texts: Sequence[str], vocab_size: int) -> TextCodec:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return TextCodec(tok)


def load_codec(path_or_name: str | Path) -> TextCodec:
    """A saved tokenizer.json, or the fast tokenizer of a pretrained model (hub name or local dir)."""
    path = Path(path_or_name)
    if path.suffix == ".json" and path.is_file():
        return TextCodec(Tokenizer.from_file(str(path)))
    from transformers import AutoTokenizer

    return TextCodec(AutoTokenizer.from_pretrained(str(path_or_name)).backend_tokenizer)
