"""YAML reading that remembers line numbers and reports errors bilingually.

Rasa reads YAML 1.2, where `yes`/`no`/`on`/`off` are plain strings; PyYAML speaks 1.1, so
the boolean resolver is narrowed to `true`/`false` here, and base-60 integers (`12:30`, which
1.1 reads as 750) stay strings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.errors import Location, ProjectError


class LocDict(dict[Any, Any]):
    """A mapping that knows the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[Any, int]


class LocList(list[Any]):
    """A sequence that knows the line of itself and of each of its items."""

    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


_NARROWED = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int"}
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in _NARROWED]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    loader.flatten_mapping(node)
    out = LocDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "unhashable key", key_node.start_mark
            ) from None
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    out = LocList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse_yaml(text: str, file: str = "<string>") -> Any:
    """Parse YAML text; a syntax error becomes a `ProjectError` naming file and line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = (exc.problem or exc.context or "syntax error").strip()
        raise ProjectError(
            f"YAML 格式错误：{problem}（请检查缩进、冒号和引号）",
            f"malformed YAML: {problem} (check indentation, colons and quotes)",
            Location(file, line),
        ) from None
    except yaml.YAMLError as exc:
        raise ProjectError(
            f"YAML 无法解析：{exc}", f"cannot parse YAML: {exc}", Location(file)
        ) from None


def read_yaml(path: Path) -> Any:
    """Read and parse a YAML file (UTF-8, BOM tolerated)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProjectError(
            f"文件不是 UTF-8 编码（第 {exc.start} 字节附近）",
            f"file is not UTF-8 (near byte {exc.start})",
            Location(str(path)),
        ) from None
    except OSError as exc:
        raise ProjectError(
            f"无法读取文件：{exc.strerror}",
            f"cannot read file: {exc.strerror}",
            Location(str(path)),
        ) from None
    return parse_yaml(text, str(path))


def line_of(container: Any, key: Any = None, default: int = 0) -> int:
    """Best-known line of a mapping key, a list item index, or the container itself."""
    if isinstance(container, LocDict):
        if key is not None and key in container.key_lines:
            return container.key_lines[key]
        return container.line or default
    if isinstance(container, LocList):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line or default
    return default
