"""How many products hold each trigram, remembered by the process for a
while: the statistics a search plans with (search_index.py).

Probing the index for a text's trigrams reads up to RAREST_CAP index entries
per trigram, which for a text of common words costs more than the search
itself. The counts change only as the catalog does, and a stale count
can only make a search slower, never its answer different: the statements that
find the matches always run against the database. A trigram that no product
held is never remembered, so "nothing matches" is always a fresh answer."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import Engine

FRESH_FOR_S = 60.0
MAX_ENTRIES = 50_000  # about 36^3 possible trigrams: a few MB at most


class TrigramCounts:
    def __init__(
        self,
        *,
        fresh_for_s: float = FRESH_FOR_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fresh_for_s = fresh_for_s
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}

    def known(self, grams: Iterable[str]) -> dict[str, int]:
        """The remembered counts of `grams` that are still fresh."""
        now = self._clock()
        found: dict[str, int] = {}
        with self._lock:
            for gram in grams:
                entry = self._counts.get(gram)
                if entry is not None and now - entry[0] < self._fresh_for_s:
                    found[gram] = entry[1]
        return found

    def remember(self, counts: Mapping[str, int]) -> None:
        now = self._clock()
        with self._lock:
            if len(self._counts) + len(counts) > self._max_entries:
                self._counts.clear()  # rare: a process that has seen every trigram
            for gram, count in counts.items():
                if count > 0:
                    self._counts[gram] = (now, count)


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, TrigramCounts] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()


def trigram_counts(engine: Engine) -> TrigramCounts:
    """The counts of the database behind `engine`, shared by every unit of
    work of the process on it."""
    with _BY_ENGINE_LOCK:
        counts = _BY_ENGINE.get(engine)
        if counts is None:
            counts = _BY_ENGINE[engine] = TrigramCounts()
        return counts
