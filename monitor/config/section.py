"""The base of every section model of feeds.yaml, and the declaration that a key is secret.

Every section (settings, feeds, dedup, retention, watchlist, digests and their channels, a plugin
channel's settings) is a ``Section``: unknown keys are errors and values are frozen. A key whose value no
output may show is declared with ``secret()`` (``password: str = secret("")``), so that ``monitor check``
and the logs hide it wherever it was written: in the file or through ``${VAR}``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

_SECRET: JsonDict = {"secret": True}


class Section(BaseModel):
    # YAML reads "name: 1984" as a number; a name or tag that looks like one is still text.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


def secret(default: Any = "", **options: Any) -> Any:
    """A field whose value is a secret (``options`` as for pydantic's ``Field``)."""
    return Field(default, json_schema_extra=_SECRET, **options)


def is_secret(model: type[BaseModel], key: str) -> bool:
    """Whether ``key`` of ``model`` is declared secret."""
    extra = model.model_fields[key].json_schema_extra
    return isinstance(extra, dict) and extra.get("secret") is True


SecretAt = tuple[
    tuple[str | int, ...], Any, bool
]  # (path as in the JSON dump, value, inside a secret mapping)


def declared_secrets(model: BaseModel, path: tuple[str | int, ...] = ()) -> list[SecretAt]:
    """Each value declared secret in ``model`` and the sections under it; a secret mapping (a webhook's
    headers) counts each of its values."""
    found: list[SecretAt] = []
    by_alias = model.model_config.get("serialize_by_alias", False)
    entries = [
        (
            (field.serialization_alias or field.alias or name) if by_alias else name,
            getattr(model, name),
            is_secret(type(model), name),
        )
        for name, field in type(model).model_fields.items()
    ]
    entries += [(name, value, False) for name, value in (model.__pydantic_extra__ or {}).items()]
    for key, value, declared in entries:
        at = (*path, key)
        if declared and isinstance(value, dict):
            found += [((*at, name), item, True) for name, item in value.items()]
        elif declared:
            found.append((at, value, False))
        elif isinstance(value, BaseModel):
            found += declared_secrets(value, at)
        elif isinstance(value, tuple | list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += declared_secrets(item, (*at, index))
    return found
