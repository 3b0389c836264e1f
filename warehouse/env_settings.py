"""Settings from the environment (a `.env` file is loaded into it first, without overriding
the shell), as pydantic-settings models named exactly as the variables. Each layer keeps its
own model beside the code that uses it, with each default and each check in one place;
`pipelines/settings.py` composes them. An empty or blank value counts as unset.

Shared by every layer, so it imports nothing of ours."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# (name, the value as given, the default as text or "") -> why it cannot be used, or None
Problem = Callable[[str, str, str], str | None]


@dataclass(frozen=True)
class Check:
    """Annotated metadata: the check a setting's text must pass before anything runs.
    `rank` orders the message's lines: numbers, then choices, then keys and addresses."""

    problem: Problem
    rank: int = 1


def given(name: str) -> str:
    """The setting as the environment (or `.env`) gives it, blank as ""."""
    return (os.environ.get(name) or "").strip()


class _Environment(PydanticBaseSettingsSource):
    """The model's fields from the environment by exact name, stripped, blank as unset."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return given(field_name) or None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: text for name in self.settings_cls.model_fields if (text := given(name))}


class EnvSettings(BaseSettings):
    """A layer's settings: field names are the variables' names."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `.env` is loaded into the environment once (pipelines/settings.load_env), so
        # child processes (the sandbox, Dagster's) see the same settings.
        return (init_settings, _Environment(settings_cls))

    @classmethod
    def of(cls, values: Mapping[str, str]) -> Self:
        """The settings from `values` (a platform's settings by name), typed; a blank or
        missing one falls back to the environment, then to its default."""
        given_here = {n: v.strip() for n, v in values.items() if n in cls.model_fields}
        return cls.model_validate({n: v for n, v in given_here.items() if v})

    @classmethod
    def defaults(cls) -> dict[str, str]:
        """Each setting's default as it is written in `.env` ("" when it has none)."""
        return {name: default_text(info.default) for name, info in cls.model_fields.items()}

    @classmethod
    def problems(cls) -> Iterator[tuple[int, str]]:
        """(rank, message) for each given setting that fails its check."""
        defaults = cls.defaults()
        for name, info in cls.model_fields.items():
            text = given(name)
            for check in (m for m in info.metadata if isinstance(m, Check)):
                problem = check.problem(name, text, defaults[name]) if text else None
                if problem:
                    yield check.rank, problem
                    break

    @classmethod
    def joint_problems(cls) -> Iterator[str]:
        """Problems of settings taken together (a key without its list id, say)."""
        return iter(())


def default_text(value: Any) -> str:
    """A default as written in `.env`: 7.0 as 7, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def number(meaning: str, low: float, high: float, whole: bool = True) -> Check:
    """A number from `low` to `high`; `meaning` says what it is in the message."""

    def problem(name: str, text: str, default: str) -> str | None:
        shown = f" (default {default})" if default else ""
        kind = "a whole number" if whole else "a number"
        value = _number(text, whole)
        if value is None:
            return f"{name}={text!r} is not {kind}: expected {meaning}{shown}."
        if not low <= value <= high:
            return f"{name}={text} is out of range: expected {meaning}{shown}."
        return None

    return Check(problem, rank=0)


def _number(text: str, whole: bool) -> float | None:
    """The number in text, or None when it is not one (nan and infinity are not)."""
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def choice(test: Callable[[str], bool], message: Callable[[str, str], str]) -> Check:
    """A value `test` accepts; `message(name, text)` says what is expected."""
    return Check(lambda name, text, _: None if test(text) else message(name, text))
