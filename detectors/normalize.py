"""Input normalisation against cheap character-level attacks, applied to text before it is scored.

:func:`normalize` undoes what an attacker can do to machine text without changing what a reader sees:

1. Unicode NFKC (full-width letters, ligatures, mathematical alphanumerics, odd spaces -> plain forms);
2. homoglyphs folded to their ASCII look-alikes (Cyrillic / Greek letters that NFKC leaves alone, e.g.
   Cyrillic "а" U+0430 -> "a"; the table is :data:`HOMOGLYPHS`) inside words that mix scripts, so
   Russian or Greek prose is left intact;
3. invisible characters removed: every Unicode format character (category Cf: zero-width space / joiners,
   word joiner, BOM, soft hyphen...) and control characters other than tab and newline;
4. whitespace collapsed: runs of spaces/tabs -> one space, spaces around newlines dropped, more than two
   newlines -> two, ends stripped.

Case is a separate choice (:func:`repair_case`), because any case folding also changes clean text: the
benchmark (benchmarks/detect_robustness.py, RESULTS.md) measures whether it pays.
Normalising a text that has no such characters changes at most its whitespace runs.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["HOMOGLYPHS", "NORMALIZERS", "normalize", "repair_case"]

# Look-alikes that survive NFKC, by the ASCII letter they imitate (Cyrillic, Greek, a few Latin/IPA forms).
_LOOKALIKES = {
    "a": "аɑα", "c": "сϲ", "d": "ԁ", "e": "еҽ", "g": "ɡ", "h": "һ", "i": "іιɩ", "j": "јϳ", "k": "κ",
    "l": "ӏ", "n": "ո", "o": "оοσ", "p": "рρ", "q": "ԛ", "s": "ѕ", "u": "υս", "v": "ν", "w": "ԝω",
    "x": "хχ", "y": "уγ",
    "A": "АΑ", "B": "ВΒ", "C": "СϹ", "E": "ЕΕ", "H": "НΗ", "I": "ІΙӀ", "J": "Ј", "K": "КΚ", "M": "МΜ",
    "N": "Ν", "O": "ОΟ", "P": "РΡ", "S": "Ѕ", "T": "ТΤ", "X": "ХΧ", "Y": "ҮΥ", "Z": "Ζ",
}
HOMOGLYPHS: dict[str, str] = {fake: ascii_char for ascii_char, fakes in _LOOKALIKES.items() for fake in fakes}
"""Non-ASCII character -> the ASCII letter it imitates."""

_FOLD = str.maketrans(HOMOGLYPHS)
_KEEP_CONTROL = {"\n", "\t"}
_SPACES = re.compile(r"[^\S\n]+")
_AROUND_NEWLINE = re.compile(r" ?\n ?")
_NEWLINES = re.compile(r"\n{3,}")
_WORD = re.compile(r"[^\W\d_]+")


def _visible(char: str) -> bool:
    category = unicodedata.category(char)
    return category != "Cf" and (category != "Cc" or char in _KEEP_CONTROL)


def _fold_homoglyphs(text: str) -> str:
    """Fold look-alikes inside words that mix in ASCII letters ("Тhе" with Cyrillic T, e -> "The"), and in
    mostly-Latin text also words made only of look-alikes ("а" alone); other words are left alone, so
    "Москва" inside English and Russian or Greek prose keep their letters."""
    letters = [char for char in text if char.isalpha()]
    mostly_latin = bool(letters) and sum(char.isascii() for char in letters) >= len(letters) / 2

    def fold(match: re.Match[str]) -> str:
        word = match.group(0)
        if any(char.isascii() for char in word) or (mostly_latin and all(char in HOMOGLYPHS for char in word)):
            return word.translate(_FOLD)
        return word

    return _WORD.sub(fold, text)


def normalize(text: str) -> str:
    """NFKC, homoglyphs folded to ASCII, invisible characters removed, whitespace collapsed."""
    # Fold before NFKC too: NFKC turns some look-alikes into letters that no longer look Latin (lunate
    # sigma U+03F2, a "c", becomes the final sigma U+03C2).
    text = unicodedata.normalize("NFKC", _fold_homoglyphs(text)).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(char for char in _fold_homoglyphs(text) if _visible(char))
    text = _AROUND_NEWLINE.sub("\n", _SPACES.sub(" ", text))
    return _NEWLINES.sub("\n\n", text).strip()


def _repair_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.islower() or word.isupper() or word.istitle():
        return word
    return word[0] + word[1:].lower()  # "tHe" -> "the"; "ThE" -> "The"; "iPhone" -> "iphone" (a small cost)


def repair_case(text: str) -> str:
    """Words whose case is none of lower / Title / UPPER keep their first letter and lower-case the rest.

    Undoes random case swaps inside words; a swap that yields a regular pattern ("the" -> "The") stays.
    """
    return _WORD.sub(_repair_word, text)


NORMALIZERS = {
    "none": None,
    "nfkc": normalize,
    "nfkc+case": lambda text: repair_case(normalize(text)),
    "nfkc+lower": lambda text: normalize(text).lower(),
}
"""Named text preprocessors a detector can apply before tokenising (``None`` = the text as given)."""
