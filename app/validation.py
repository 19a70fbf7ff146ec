"""JSON request bodies checked against their schemas in the OpenAPI document (app/openapi.py), so
one declared schema both documents a body and validates it. jsonschema-rs compiles each schema once
(draft 2020-12, OpenAPI 3.1's dialect) and checks a body in microseconds: it reads only what the
schema constrains, so a v2 tensor's `data` array, typed as an array alone, is not walked.

`problem(name, payload)` names the first field that breaks the schema and says what it must be, e.g.
"inputs[0].datatype must be string, not array"; the callers turn it into their 400.
"""
from __future__ import annotations

import math
from functools import cache

import jsonschema_rs

from app.openapi import document

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_MAX_SHOWN = 60  # characters of a client's value quoted back in a message


@cache
def _validator(name: str):
    components = document()["components"]
    return jsonschema_rs.validator_for(
        {"$schema": _DIALECT, "$ref": f"#/components/schemas/{name}", "components": components})


def problem(name: str, payload) -> str | None:
    """What is wrong with `payload` under the schema `name` (components/schemas), or None."""
    validator = _validator(name)
    try:
        if validator.is_valid(payload):
            return None
        error = next(iter(validator.iter_errors(payload)))
    except ValueError:  # jsonschema-rs's "Recursion limit reached": arrays nested hundreds deep
        return "the body is nested too deeply"
    return _describe(error, payload)


def _describe(error, payload) -> str:
    kind = error.kind
    kind_name = type(kind).__name__
    if kind_name in ("OneOfNotValid", "AnyOf"):
        return _describe_alternatives(error, payload)
    field = _field(error.instance_path)
    value = _at(payload, error.instance_path)
    if kind_name == "Type":
        return f"{field} must be {' or '.join(kind.types)}, not {_kind_of(value)}"
    if kind_name == "Required":
        return f"{field} lacks the field {kind.property!r}"
    if kind_name == "Enum":
        return f"{field} must be one of {', '.join(map(str, kind.options))}, not {_shown(value)}"
    if kind_name == "Constant":
        return f"{field} must be {kind.expected_value!r}, not {_shown(value)}"
    if kind_name == "OneOfMultipleValid":
        return f"{field} matches more than one of its accepted forms"
    if kind_name in ("MinItems", "MaxItems"):
        return f"{field} must have {'at least' if kind_name == 'MinItems' else 'at most'} {kind.limit} items"
    if kind_name in ("Minimum", "Maximum"):
        return f"{field} must be {'at least' if kind_name == 'Minimum' else 'at most'} {kind.limit}, not {_shown(value)}"
    return f"{field} is not valid ({kind.name})"


def _describe_alternatives(error, payload) -> str:
    """An anyOf/oneOf that no form matched: the error of the form that got furthest into the value
    (a pixel array with a string inside: that element), or the types the forms accept."""
    leaves = list(_leaves(error))
    deepest = max(len(leaf.instance_path) for leaf in leaves)
    if deepest > len(error.instance_path):
        return _describe(next(leaf for leaf in leaves if len(leaf.instance_path) == deepest), payload)
    if all(type(leaf.kind).__name__ == "Type" for leaf in leaves):
        types = dict.fromkeys(t for leaf in leaves for t in leaf.kind.types)
        return (f"{_field(error.instance_path)} must be {' or '.join(types)}, "
                f"not {_kind_of(_at(payload, error.instance_path))}")
    required = [leaf.kind.property for leaf in leaves if type(leaf.kind).__name__ == "Required"]
    if len(required) == len(leaves):
        return f"{_field(error.instance_path)} needs one of the fields {', '.join(map(repr, required))}"
    return _describe(leaves[0], payload)


def _leaves(error):
    context = getattr(error.kind, "context", None)
    if not context:
        yield error
        return
    for branch in context:
        for inner in branch:
            yield from _leaves(inner)


def _field(path) -> str:
    if not path:
        return "the body"
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _at(payload, path):
    for part in path:
        try:
            payload = payload[part]
        except (KeyError, IndexError, TypeError):
            return None
    return payload


def _kind_of(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else "NaN or infinity"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."
