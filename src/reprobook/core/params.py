"""Notebook parameters -> a chapter's config object, one way for every chapter (ARCHITECTURE §3).

A notebook's ``parameters`` cell declares plain names (papermill overrides them). A chapter's code
takes typed dataclasses. :func:`config_from` builds one from the other, by field name::

    cfg = config_from(FedConfig, globals(), rounds=3)

Every field of the dataclass is looked up in ``params`` (typically the notebook's ``globals()``);
missing fields keep their defaults; ``overrides`` win. A required field that nobody gives, or an
override that is not a field, raises :class:`~reprobook.core.errors.ParameterError` naming it.
Lists become tuples where the field's default is a tuple (YAML and papermill know no tuples).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

from .errors import ParameterError

T = TypeVar("T")


def config_from(cls: type[T], params: Mapping[str, Any], /, **overrides: Any) -> T:
    """An instance of dataclass ``cls`` from the parameters named like its fields."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    bad = sorted(set(overrides) - set(fields))
    if bad:
        raise ParameterError(f"{cls.__name__}: unknown field(s) {bad}; fields: {sorted(fields)}")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in overrides:
            v = overrides[name]
        elif name in params:
            v = params[name]
        else:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ParameterError(f"{cls.__name__}: field {name!r} is required and no "
                                     f"parameter of that name was given")
            continue
        if isinstance(f.default, tuple) and isinstance(v, list):
            v = tuple(v)
        values[name] = v
    return cls(**values)
