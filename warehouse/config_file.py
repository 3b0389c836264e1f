"""YAML configuration files read into pydantic models, with ONE message a volunteer can act
on: the file, the path inside it (`rungs[2].where`, `lists.new_joiners.order_by`,
`probabilistic.link_threshold`) and what is allowed there. No value from the file is repeated
(a config file can hold addresses), only its keys and the names of rungs and lists.

Shared by every layer that reads a config file, so it imports nothing of ours."""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import annotated_types
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Strict,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

M = TypeVar("M", bound=BaseModel)
# Rung and list names: an item of a list is shown by its name when it has a valid one.
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigProblem(ValueError):
    """A problem a model's own check words in full, naming its place (e.g. "rung 'hq': has
    no rule"): reported after the file name as it is, without a path."""


@dataclass(frozen=True)
class Expect:
    """Annotated metadata: what a field allows, in words, when its type says too little."""

    text: str


def _text(value: Any) -> Any:
    # YAML reads `where: true` or `reason: 2024` as a bool or number: take them as written.
    return str(value) if isinstance(value, bool | int | float) else value


def _whole(value: Any) -> Any:
    # 25000.0 is a whole number; 2.5 is not, and is refused below.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Text = Annotated[str, BeforeValidator(_text), Strict()]
Flag = Annotated[bool, Strict()]
Whole = Annotated[int, BeforeValidator(_whole), Strict()]
Number = Annotated[float, Strict()]


class ConfigModel(BaseModel):
    """A mapping in a config file: unknown keys are refused, and a key given as null (or
    left empty) takes its default unless null means something for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        unknown_keys(
            sorted(str(k) for k in data if k not in cls.model_fields), list(cls.model_fields)
        )
        return cls._prepare({k: v for k, v in data.items() if v is not None or _nullable(cls, k)})

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Fill defaults that depend on other keys; the raw mapping, keys already known."""
        return data


def unknown_keys(keys: list[str], allowed: tuple[str, ...] | list[str], what: str = "key") -> None:
    """Refuse keys outside `allowed`: the message names each and lists the allowed ones."""
    if keys:
        raise PydanticCustomError(
            "unknown_key", f"unknown {what}", {"keys": keys, "allowed": list(allowed), "what": what}
        )


def _nullable(model: type[BaseModel], key: str) -> bool:
    annotation = model.model_fields[key].annotation
    return get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in get_args(
        annotation
    )


def read_yaml(path: str | Path, error: type[ValueError]) -> Any:
    """The file's YAML (an empty file is {}); `error` names the file when it is not YAML
    or not UTF-8 text. The parser's position is given, never the line it quotes."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text; save it as UTF-8 (a YAML file)") from None
    try:
        # libyaml's parser when PyYAML has it: the ladder is read by several steps a run.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise error(f"{path}: not valid YAML ({at}{problem})") from None
    return {} if data is None else data


def validated(model: type[M], data: Any, source: str, error: type[ValueError]) -> M:
    """`data` as `model`, or `error` with one message naming `source`, the path and what is
    allowed there."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe(exc, model, source, data)) from None


def describe(exc: ValidationError, model: type[BaseModel], source: str, data: Any) -> str:
    """The first problem in words: `source: path: what is allowed`."""
    first = exc.errors(include_url=False, include_input=False)[0]
    loc, kind, ctx = first["loc"], first["type"], first.get("ctx") or {}
    place = path(loc, data)
    if kind == "unknown_key":
        keys, allowed, what = ctx["keys"], ", ".join(ctx["allowed"]), ctx.get("what", "key")
        if len(keys) == 1:
            return f"{source}: {_join(place, keys[0])}: unknown {what}; allowed {what}s: {allowed}"
        listed = ", ".join(keys)
        return f"{source}: {place or 'top level'}: unknown {what}s {listed}; allowed {what}s: {allowed}"
    if kind == "value_error" and isinstance(ctx.get("error"), ConfigProblem):
        return f"{source}: {ctx['error']}"
    prefix = f"{source}: {place}: " if place else f"{source}: "
    if kind == "value_error":
        return prefix + str(ctx.get("error"))
    wanted = expected(*_resolve(model, loc))
    if kind == "missing":
        return f"{prefix}missing; give {wanted}"
    return f"{prefix}must be {wanted}"


def path(loc: tuple[int | str, ...], data: Any) -> str:
    """`rungs[2].where`: list items counted from 1, or by their name when they have one."""
    text, node = "", data
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list | tuple) and part < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            text += f".{name}" if isinstance(name, str) and NAME.match(name) else f"[{part + 1}]"
            node = item
        else:
            text = _join(text, part)
            node = node.get(part) if isinstance(node, dict) else None
    return text


def _join(place: str, key: str) -> str:
    if not _KEY.match(key):
        return f"{place}[{key!r}]"
    return f"{place}.{key}" if place else key


def _resolve(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[Any, list]:
    """The type (and its constraints) at `loc` in `model`, following fields and items."""
    annotation: Any = model
    metadata: list = []
    for part in loc:
        annotation, metadata = _unwrap(annotation, metadata)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(part))
            if info is None:
                return Any, []
            annotation, metadata = info.annotation, list(info.metadata)
        elif origin in (tuple, list):
            annotation, metadata = get_args(annotation)[0], []
        elif origin is dict:
            annotation, metadata = get_args(annotation)[1], []
        else:
            return Any, []
    return _unwrap(annotation, metadata)


def _unwrap(annotation: Any, metadata: list) -> tuple[Any, list]:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *more = get_args(annotation)
            metadata = [*metadata, *more]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation, metadata


def expected(annotation: Any, metadata: list) -> str:
    """What a value of this type may be, in words."""
    annotation, metadata = _unwrap(annotation, metadata)
    for item in metadata:
        if isinstance(item, Expect):
            return item.text
    origin = get_origin(annotation)
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        return ("a whole number" if annotation is int else "a number") + _limits(metadata)
    if annotation is str:
        return "text"
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(annotation))
    if origin in (tuple, list):
        return "a list, each " + expected(get_args(annotation)[0], [])
    if origin is dict:
        return "a mapping, each value " + expected(get_args(annotation)[1], [])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping with the keys " + ", ".join(annotation.model_fields)
    return "a value of another kind (see the file shipped with Groundswell)"


def _limits(metadata: list) -> str:
    low = high = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            low = getattr(item, "ge", None) if isinstance(item, annotated_types.Ge) else item.gt
        if isinstance(item, annotated_types.Le | annotated_types.Lt):
            high = getattr(item, "le", None) if isinstance(item, annotated_types.Le) else item.lt
    if low is not None and high is not None:
        return f" between {low:g} and {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    return ""
