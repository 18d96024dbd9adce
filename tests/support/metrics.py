"""Reading a Prometheus exposition in tests: every sample by name and labels."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[Samples, set[str]]:
    """The samples of an exposition and the names of its metric families
    (a family may have no samples: a labelled metric nobody used yet)."""
    samples: Samples = {}
    families: set[str] = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, families


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample with exactly these labels; KeyError naming what exists if absent."""
    key = (name, frozenset(labels.items()))
    if key not in samples:
        known = [dict(k[1]) for k in samples if k[0] == name]
        raise KeyError(f"no sample {name}{labels}; there are {known}")
    return samples[key]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    wanted: Mapping[str, str] = labels
    return sum(
        v
        for (n, have), v in samples.items()
        if n == name and all((k, w) in have for k, w in wanted.items())
    )
