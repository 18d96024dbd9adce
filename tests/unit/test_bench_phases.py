"""The bench's `--only`: which phases a run includes."""

from __future__ import annotations

from tools.bench.runner import PHASES, SCALES, Options


def runs(*only: str) -> list[str]:
    options = Options(scale=SCALES["tiny"], only=frozenset(only))
    return [phase for phase in PHASES if options.runs(phase)]


def test_no_choice_runs_every_phase() -> None:
    assert runs() == list(PHASES)


def test_one_phase_runs_alone() -> None:
    assert runs("search") == ["search"]
    assert runs("intake", "e2e") == ["intake", "e2e"]


def test_cached_reads_bring_the_processing_phase_that_finishes_their_orders() -> None:
    assert runs("read_cached") == ["processing", "read_cached"]


def test_loaded_intake_brings_the_api_alone_intake_it_is_compared_with() -> None:
    assert runs("intake_loaded") == ["intake", "intake_loaded"]
