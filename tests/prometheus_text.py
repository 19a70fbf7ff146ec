"""Read a /metrics answer with prometheus_client's own parser (no regexes over the text)."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def families(text: str) -> dict[str, str]:
    """Family name -> type; counters are named without `_total`, as the parser names them."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) -> value, for every sample of the answer."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    """One sample of `samples(...)`; 0 for a label set not counted yet."""
    return found.get((name, frozenset(labels.items())), 0.0)
