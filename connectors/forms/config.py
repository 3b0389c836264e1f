"""The forms configuration (FORMS_CONFIG, default forms.yaml): column maps for exports no
layout recognises, by file-name pattern:

    column_maps:
      'volunteers_*.csv': {email: Correo, given_name: Nombre}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from connectors.forms.reader import FORM_FIELDS
from warehouse.config_file import ConfigModel, Expect, Text, read_yaml, unknown_keys, validated

# Before consent was read per channel, one `consent` field meant email consent.
RENAMED = {"consent": "consent_email"}


class FormsConfigError(ValueError):
    """The forms configuration cannot be used; the message names the file and the key."""


def _known_fields(column_map: dict[str, str]) -> dict[str, str]:
    fields = {RENAMED.get(f, f): header for f, header in column_map.items()}
    unknown_keys(sorted(f for f in fields if f not in FORM_FIELDS), FORM_FIELDS, "field")
    return fields


ColumnMap = Annotated[
    dict[Text, Text],
    AfterValidator(_known_fields),
    Expect("a mapping of {field: column header}"),
]


class FormsConfig(ConfigModel):
    """`forms.yaml` as written."""

    column_maps: Annotated[
        dict[Text, ColumnMap],
        Expect("a mapping of file name pattern to {field: column header}"),
    ] = Field(default_factory=dict)


def load_column_maps(path: str | Path) -> dict[str, dict[str, str]]:
    """`column_maps` from the forms configuration: file-name pattern -> {field: header}.
    The file is optional; a malformed one is an error naming the file, the key and what
    is allowed."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = read_yaml(path, FormsConfigError)
    config = validated(FormsConfig, data, str(path), FormsConfigError)
    return {pattern: dict(fields) for pattern, fields in config.column_maps.items()}
