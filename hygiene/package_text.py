"""Human-written technical prose found on every install: the READMEs and docstrings of installed packages.

The ``ref`` detector family needs human text of many domains for its n-gram reference, and a detector needs
human text of a technical domain in training so that its threshold does not mistake documentation's
predictable wording for machine authorship. Every environment with this package installed holds such text:
the README each distribution in the environment's site-packages ships as its ``METADATA`` long description
(markdown / reStructuredText), and the docstrings of its own Python source. It is read at run time, never
copied anywhere.

Markup is stripped lightly (code blocks, tables, headings, lists, images, badges, link targets, HTML,
inline-code backticks go); what remains is cut into documents of consecutive prose paragraphs (40-200 words,
like the WikiText documents of the accuracy benchmarks). Passages repeated across packages are dropped.
``split`` divides the distributions (never a document) into two halves by a hash of their name, so a
reference model and a training domain can come from different packages.

METADATA carries no release date, so the text cannot be limited to packages written before language models
were common; READMEs and docstrings maintained by hand are the best available proxy.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
import sysconfig
from importlib import metadata
from pathlib import Path

__all__ = ["package_documents", "docstring_documents", "distinct_documents", "prose_paragraphs", "pack_documents",
           "word_ngrams", "site_packages", "SPLITS", "EXCLUDED", "STDLIB_COPIES"]

SPLITS = ("reference", "train")
EXCLUDED = frozenset({"corpus-hygiene"})  # this project's own README: not independent human text
# Distributions that copy standard-library modules (their docstrings are Python's documentation) or vendor them.
STDLIB_COPIES = frozenset({"typing-extensions", "importlib-metadata", "importlib-resources", "zipp", "tomli",
                           "exceptiongroup", "mock", "setuptools", "pip", "dataclasses", "contextlib2",
                           "pathlib2", "singledispatch", "enum34", "futures", "backports-tarfile"})
_SKIP_PARTS = {"tests", "test", "testing", "examples", "_vendor", "vendor", "vendored", "_distutils", "externals",
               "_externals", "extern", "_extern", "benchmarks", "docs"}
_MIN_WORDS, _MAX_WORDS, _MIN_PARAGRAPH = 40, 200, 12

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING_RULE = re.compile(r"^\s*([=\-~^*+#`'\"]{3,})\s*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # markdown [text](url); images give their alt text
_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^>]+>`_{1,2}")
_RST_ROLE = re.compile(r":[a-zA-Z:]+:`([^`]+)`")
_TAG = re.compile(r"<[^>]+>")
_URL = re.compile(r"https?://\S+")
_EMPHASIS = re.compile(r"(?<!\w)\*{1,2}(\S[^*]*?)\*{1,2}(?!\w)")
_RST_REF = re.compile(r"(?<=[A-Za-z0-9)])_(?=[\s,.;:)]|$)")  # rst "name_" / "func()_" references


def package_documents(split: str | None = None, *, exclude: frozenset[str] = EXCLUDED) -> list[dict[str, str]]:
    """Prose documents of the installed distributions' long descriptions, in name order:
    ``{"text", "package"}`` dicts; ``split`` ("reference" / "train") keeps one half of the packages."""
    return [dict(doc) for doc in _readme_documents(split, exclude)]


@functools.lru_cache(maxsize=8)  # the installed packages do not change under a running process
def _readme_documents(split: str | None, exclude: frozenset[str]) -> tuple[dict[str, str], ...]:
    docs = []
    for name, dist in _distributions(split, exclude):
        body = dist.metadata.get_payload() or dist.metadata.get("Description") or ""
        docs.extend({"text": text, "package": name} for text in pack_documents(prose_paragraphs(body)))
    return tuple(distinct_documents(docs))


def docstring_documents(split: str | None = None, *, per_package: int = 15,
                        exclude: frozenset[str] = EXCLUDED | STDLIB_COPIES) -> list[dict[str, str]]:
    """Prose documents of the docstrings in the installed distributions' own Python source (parsed, never
    imported): module, class and function docstrings of one file packed together, at most ``per_package``
    documents per distribution (its files in path order), tests, examples and vendored code skipped.
    Backports of standard-library modules are left out: their docstrings are Python's own documentation."""
    return [dict(doc) for doc in _docstring_documents(split, per_package, exclude)]


@functools.lru_cache(maxsize=8)
def _docstring_documents(split: str | None, per_package: int, exclude: frozenset[str]) -> tuple[dict[str, str], ...]:
    docs = []
    for name, dist in _distributions(split, exclude):
        found: list[str] = []
        files = sorted(str(f) for f in (dist.files or ()) if str(f).endswith(".py"))
        for rel in files:
            if len(found) >= per_package:
                break
            if _SKIP_PARTS & set(re.split(r"[/\\]", rel.lower())[:-1]) or rel.rsplit("/", 1)[-1].startswith("test"):
                continue
            paragraphs = [p for doc in _docstrings(dist.locate_file(rel)) for p in prose_paragraphs(doc)]
            found.extend(pack_documents(paragraphs)[: per_package - len(found)])
        docs.extend({"text": text, "package": name} for text in found)
    return tuple(distinct_documents(docs))


def _docstrings(path) -> list[str]:
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return [doc for node in ast.walk(tree) if isinstance(node, kinds) and (doc := ast.get_docstring(node))]


def _distributions(split: str | None, exclude: frozenset[str]):
    """(canonical name, distribution) of each distribution in site-packages once, in name order."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    found = {}
    for dist in metadata.distributions(path=site_packages()):
        name = _canonical(dist.metadata.get("Name") or "")
        if name and name not in found and name not in exclude and (split is None or _half(name) == split):
            found[name] = dist
    return sorted(found.items())


def site_packages() -> list[str]:
    """This environment's installed-package directories. Not all of ``sys.path``: importing some libraries
    adds their vendored copies of other packages to it (setuptools' ``_vendor``), which would change the text."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys(paths[key] for key in ("purelib", "platlib")))


def prose_paragraphs(markup: str) -> list[str]:
    """Paragraphs of running prose of a markdown / reStructuredText README, markup stripped."""
    lines, in_fence, in_literal = [], False, False
    for line in markup.replace("\r\n", "\n").split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            lines.append("")
            continue
        if in_fence:
            continue
        if in_literal:  # an rst literal block: indented lines after a "::" paragraph
            if not line.strip() or line.startswith((" ", "\t")):
                lines.append("")
                continue
            in_literal = False
        stripped = line.strip()
        if (line.startswith(("    ", "\t")) or stripped.startswith(("#", "|", "..", ">>>", "$ ", "+-", "<!--"))
                or _HEADING_RULE.match(line)):
            lines.append("")
            continue
        if stripped.endswith("::"):  # rst: "text::" reads "text:" and opens a literal block
            in_literal = True
            line = line.rstrip()[:-1]
        lines.append(line)
    out = []
    for para in re.split(r"\n\s*\n", "\n".join(lines)):
        if not para.strip():
            continue
        text = _RST_ROLE.sub(r"\1", _RST_LINK.sub(r"\1", _LINK.sub(r"\1", para)))
        text = _URL.sub("", _TAG.sub("", text)).replace("``", "").replace("`", "")
        text = _RST_REF.sub("", _EMPHASIS.sub(r"\1", text))
        text = " ".join(text.split())
        if text.startswith(("-", "*", "+")) or re.match(r"^\d+\.\s", text):
            continue  # list items: fragments, not running prose
        if len(text.split()) >= _MIN_PARAGRAPH and text[-1] in ".:)" and _letters(text) >= 0.7:
            out.append(text)
    return out


def pack_documents(paragraphs: list[str]) -> list[str]:
    """Consecutive paragraphs joined into documents of at least 40 words, cut at 200."""
    docs, current = [], []
    for para in paragraphs:
        current.append(para)
        words = " ".join(current).split()
        if len(words) >= _MIN_WORDS:
            docs.append(" ".join(words[:_MAX_WORDS]))
            current = []
    return docs


def distinct_documents(docs: list[dict[str, str]], n: int = 8) -> list[dict[str, str]]:
    """Drop documents (``{"text", ...}`` dicts) sharing a word ``n``-gram with an earlier one: licence
    boilerplate, forks' READMEs, passages documentation repeats (checked independently of MinHash)."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for doc in docs:
        grams = word_ngrams(doc["text"], n)
        if grams.isdisjoint(seen):
            out.append(doc)
        seen |= grams
    return out


def word_ngrams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    """The lower-cased word ``n``-grams of ``text`` (the whole text, when it is shorter than ``n`` words)."""
    words = text.lower().split()
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def _letters(text: str) -> float:
    return sum(c.isalpha() or c.isspace() for c in text) / max(len(text), 1)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _half(name: str) -> str:
    return SPLITS[hashlib.sha256(name.encode()).digest()[0] % 2]
