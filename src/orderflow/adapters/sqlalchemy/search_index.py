"""The catalog's trigram index, which lets a substring search skip most of
the catalog.

A search is a case-insensitive substring match over name and description,
which no B-tree index can serve: without help every search reads every
product. `product_trigrams` holds, for each product, every three-character
run of letters and digits in its case-folded name and description. Every
product that contains an ASCII search text holds all of that text's
trigrams, so the products under the text's rarest trigram are a superset of
the matches; the LIKE of the plain search then decides, exactly as before.
Each row also holds the product's name, and the key is (trigram, name,
product_id): the products under a trigram come out in the order a search
lists them, so a page is read, not sorted. A row whose name is not the
product's current one (left by two concurrent first inserts of a product)
is ignored by the searches, which join on the name too.
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


def query_words(text: str) -> list[set[str]]:
    """query_trigrams(text) word by word (runs of letters and digits with a
    trigram): the trigrams of one word nearly always come together, those of
    two words far less often, which is what makes a second one worth a join."""
    if not text.isascii():
        return []
    return [grams for run in _RUN.findall(text.casefold()) if (grams := trigrams(run))]


def index_rows(product_id: str, name: str, grams: Iterable[str]) -> list[dict[str, str]]:
    return [{"trigram": gram, "name": name, "product_id": product_id} for gram in sorted(grams)]
