"""The catalog's trigram index, which lets a substring search skip most of
the catalog.

A search is a case-insensitive substring match over name and description,
which no B-tree index can serve: without help every search reads every
product. `product_trigrams` holds, for each product, every three-character
run of letters and digits in its case-folded name and description. Every
product that contains an ASCII search text holds all of that text's
trigrams, so the products under the text's rarest trigram are a superset of
the matches; the LIKE of the plain search then decides, exactly as before.
Texts without a trigram (shorter than three letters or digits) or with
non-ASCII characters (whose case folding a database's lower() may not
share) take the plain scan."""

from __future__ import annotations

import re
from collections.abc import Iterable

_RUN = re.compile(r"[a-z0-9]+")


def trigrams(*texts: str) -> set[str]:
    """The index entries of a product: every three-character run of ASCII
    letters and digits, case-folded, within a word of any of `texts`."""
    found: set[str] = set()
    for text in texts:
        for run in _RUN.findall(text.casefold()):
            found.update(run[i : i + 3] for i in range(len(run) - 2))
    return found


def query_trigrams(text: str) -> set[str]:
    """The trigrams every match of `text` must hold; empty when the index
    cannot help (then the search scans)."""
    if not text.isascii():
        return set()
    return trigrams(text)


def index_rows(product_id: str, grams: Iterable[str]) -> list[dict[str, str]]:
    return [{"trigram": gram, "product_id": product_id} for gram in sorted(grams)]
