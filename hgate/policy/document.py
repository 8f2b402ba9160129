"""A YAML document read node by node, so every complaint can say `file:line:col`.

`yaml.safe_load` throws positions away and silently keeps the last of two duplicate
keys; a policy typo must never weaken a policy, so we compose the node graph with the
safe loader, keep each node's mark, and convert scalars with the same safe constructor.
Only YAML's plain types are accepted: a tag (`!custom`, `!!python/object:...`) or a
merge key (`<<`) is refused with its place before anything is converted.
"""

from __future__ import annotations

import datetime
import math
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from hgate.errors import PolicyError
from hgate.regular_files import NotRegularFile, open_regular

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
MAX_DURATION = 366 * 86400.0  # longer than any session, credential, retry or wait
MAX_POLICY_BYTES = 1 << 20
# Deeper than any real policy (about 8 levels); libyaml's composer recurses in C, so
# nesting in the tens of thousands (100 KiB of `[`) crashed hgate with SIGSEGV.
MAX_NESTING = 64

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(
    _YAML + name for name in ("str", "int", "float", "bool", "null", "timestamp", "binary", "value")
)
_MERGE_TAG = _YAML + "merge"


@dataclass(frozen=True, slots=True)
class Node:
    """One YAML node plus the file it came from; typed accessors raise PolicyError."""

    node: yaml.Node
    path: Path
    what: str  # dotted key path for messages, e.g. "mask.rules[2].pattern"

    @property
    def location(self) -> str:
        mark = self.node.start_mark
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"

    def fail(self, message: str, *, remedy: str | None = None) -> NoReturn:
        prefix = f"{self.what}: " if self.what else ""
        raise PolicyError(f"{prefix}{message}", location=self.location, remedy=remedy)

    def _scalar(self, *, secret: bool = False) -> Any:
        if not isinstance(self.node, yaml.ScalarNode):
            self.fail(f"expected a single value, found a {_kind(self.node)}")
        if self.node.tag == _YAML + "value":  # a bare `=`: YAML 1.1's "value" key is text here
            return self.node.value
        try:
            return _CONSTRUCTOR.construct_object(self.node, deep=True)
        except (yaml.YAMLError, AttributeError, KeyError, OverflowError, TypeError, ValueError):
            tag = self.node.tag.removeprefix(_YAML)  # an explicit `!!int abc`, `!!bool maybe`
            shown = "the value (not shown)" if secret else self._text()
            self.fail(f"{shown} cannot be read as a YAML {tag}")

    def is_null(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode) and self._scalar() is None

    def string(self) -> str:
        value = self._scalar()
        if not isinstance(value, str):
            self.fail(f"expected a string, found {self._text()} ({_read_as(value)})")
        return value

    def secret_string(self) -> str:
        """A string that must not be shown back: an error names its place, not the value."""
        value = self._scalar(secret=True)
        if not isinstance(value, str):
            self.fail(f"expected a quoted string ({_read_as(value)}; the value is not shown)")
        return value

    def boolean(self) -> bool:
        value = self._scalar()
        if not isinstance(value, bool):
            self.fail(f"expected true or false, found {self._text()}")
        return value

    def integer(self, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._scalar()
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"expected a whole number, found {self._text()}")
        if minimum is not None and value < minimum:
            self.fail(f"must be at least {minimum}, found {value}")
        if maximum is not None and value > maximum:
            self.fail(f"must be at most {maximum}, found {value}")
        return value

    def duration(self, *, maximum: float = MAX_DURATION, why: str | None = None) -> float:
        """Seconds, from `90`, `1.5`, `250ms`, `30s`, `10m` or `2h`: positive, finite and at
        most `maximum` (366 days unless the setting has a tighter limit, said by `why`)."""
        value = self._scalar()
        if isinstance(value, bool):
            self.fail(f"expected a duration such as 30s, 10m or 2h, found {self._text()}")
        try:
            if isinstance(value, int | float):
                seconds = float(value)
            else:
                match = _DURATION.match(str(value))
                if match is None:
                    self.fail(f"expected a duration such as 30s, 10m or 2h, found {self._text()}")
                seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        except OverflowError:  # an integer too large for a float
            seconds = math.inf
        if math.isnan(seconds):
            self.fail(f"expected a duration such as 30s, 10m or 2h, found {self._text()}")
        if seconds <= 0:
            self.fail("must be a positive duration")
        if seconds > maximum:
            self.fail(
                f"must be at most {_seconds_text(maximum)}, found {self._text()}",
                remedy=why,
            )
        return seconds

    def _text(self) -> str:
        """The value as written (for messages about values that have no sensible repr)."""
        text = self.node.value if isinstance(self.node, yaml.ScalarNode) else ""
        return repr(text[:40] + "..." if len(text) > 40 else text)

    def choice(self, options: tuple[str, ...]) -> str:
        value = self.string()
        if value not in options:
            self.fail(f"expected one of {', '.join(options)}, found {value!r}")
        return value

    def items(self) -> Iterator[Node]:
        if not isinstance(self.node, yaml.SequenceNode):
            self.fail(f"expected a list, found a {_kind(self.node)}")
        for index, child in enumerate(self.node.value):
            yield Node(child, self.path, f"{self.what}[{index}]")

    def strings(self) -> tuple[str, ...]:
        return tuple(item.string() for item in self.items())

    def mapping(self, allowed: tuple[str, ...], *, required: tuple[str, ...] = ()) -> Fields:
        """The mapping's values by key; unknown, duplicate and missing keys are errors."""
        if not isinstance(self.node, yaml.MappingNode):
            self.fail(
                f"expected a mapping of keys ({', '.join(allowed)}), found a {_kind(self.node)}"
            )
        found: dict[str, Node] = {}
        for key_node, value_node in self.node.value:
            key = Node(key_node, self.path, self.what)
            name = key.string()
            child_what = f"{self.what}.{name}" if self.what else name
            if name in found:
                key.fail(f"duplicate key {name!r}", remedy="each key may appear once")
            if name not in allowed:
                hint = _closest(name, allowed)
                key.fail(
                    f"unknown key {name!r}",
                    remedy=f"did you mean {hint!r}?"
                    if hint
                    else f"allowed keys: {', '.join(allowed)}",
                )
            found[name] = Node(value_node, self.path, child_what)
        for name in required:
            if name not in found:
                self.fail(f"missing required key {name!r}")
        return Fields(found)


@dataclass(frozen=True, slots=True)
class Fields:
    """The present keys of one mapping."""

    values: dict[str, Node]

    def get(self, key: str) -> Node | None:
        node = self.values.get(key)
        if node is None or node.is_null():
            return None
        return node

    def __getitem__(self, key: str) -> Node:
        return self.values[key]


def _read_as(value: object) -> str:
    """How YAML read an unquoted scalar, in words (a user wrote text, not a type)."""
    if isinstance(value, bool):
        return "read as true/false: quote it"
    if isinstance(value, int | float):
        return "read as a number: quote it"
    if value is None:
        return "read as null"
    if isinstance(value, datetime.date):
        return "read as a date: quote it"
    return f"read as {type(value).__name__}"


def read_document(path: Path) -> tuple[Node, bytes]:
    """The root node of a policy file and its exact bytes (which are hashed).

    Only a regular file of at most MAX_POLICY_BYTES is read: a FIFO would hang the
    check, /dev/zero exhaust memory, and a policy of megabytes is a mistake."""
    try:
        with open_regular(path) as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
        if len(raw) > MAX_POLICY_BYTES:
            raise PolicyError(
                f"the policy is larger than {MAX_POLICY_BYTES // 1024} KiB", location=str(path)
            )
    except FileNotFoundError:
        raise PolicyError(
            "policy file not found", location=str(path), remedy="check the --policy path"
        ) from None
    except NotRegularFile as exc:
        what = "a directory, not a policy file" if stat.S_ISDIR(exc.mode) else "not a regular file"
        raise PolicyError(f"this is {what}", location=str(path)) from None
    except OSError as exc:
        raise PolicyError(
            f"cannot read policy file: {exc.strerror or type(exc).__name__}", location=str(path)
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            "policy is not valid UTF-8", location=f"{path}:{byte_position(raw, exc.start)}"
        ) from None
    try:
        _check_nesting(text, path)
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.reader.ReaderError as exc:  # a control character: its place, on one line
        where = f"{path}:{byte_position(text.encode(), len(text[: exc.position].encode()))}"
        raise PolicyError(
            f"YAML error: character {_codepoint(exc.character)} is not allowed ({exc.reason})",
            location=where,
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise PolicyError(f"YAML syntax error: {exc.problem}", location=where) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"YAML error: {exc}", location=str(path)) from None
    if root is None:
        raise PolicyError("policy file is empty", location=f"{path}:1:1")
    _check_tags(root, path)
    return Node(root, path, ""), raw


def _codepoint(character: object) -> str:
    return f"#x{character:04x}" if isinstance(character, int) else repr(character)


def _check_nesting(text: str, path: Path) -> None:
    """Refuse lists and mappings nested deeper than MAX_NESTING before composing: the
    event parser keeps its own stack, the composer recurses and can crash the process."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                mark = event.start_mark
                where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
                raise PolicyError(
                    f"lists and mappings nested deeper than {MAX_NESTING} levels",
                    location=where,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def byte_position(raw: bytes, offset: int) -> str:
    """`line:col` (1-based, col in characters) of a byte offset in `raw`, which is valid
    UTF-8 up to it (where a UnicodeDecodeError starts)."""
    start = raw.rfind(b"\n", 0, offset) + 1
    line = raw.count(b"\n", 0, offset) + 1
    column = len(raw[start:offset].decode("utf-8", errors="replace")) + 1
    return f"{line}:{column}"


def _check_tags(root: yaml.Node, path: Path) -> None:
    """Refuse every node that is not a plain scalar, list or mapping: a tag the safe
    constructor cannot build (or builds into something a policy never holds) and a merge
    key would otherwise fail later as an internal error, or be silently reinterpreted."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias: already checked
            continue
        seen.add(id(node))
        where = f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
        if isinstance(node, yaml.MappingNode):
            allowed = node.tag == _YAML + "map"
            for key, value in reversed(node.value):
                stack.extend((value, key))
        elif isinstance(node, yaml.SequenceNode):
            allowed = node.tag == _YAML + "seq"
            stack.extend(reversed(node.value))
        else:
            allowed = node.tag in _SCALAR_TAGS
        if node.tag == _MERGE_TAG:
            raise PolicyError(
                "YAML merge keys (<<) are not supported in a policy",
                location=where,
                remedy="write the keys out: a reviewer must see every setting where it applies",
            )
        if not allowed:
            tag = "!!" + node.tag[len(_YAML) :] if node.tag.startswith(_YAML) else node.tag
            raise PolicyError(
                f"unsupported YAML tag {tag!r}",
                location=where,
                remedy="a policy holds plain values, lists and mappings; remove the tag",
            )


def _seconds_text(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g} days"
    return f"{int(seconds)}s" if seconds.is_integer() else f"{seconds}s"


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return "single value"


def _closest(name: str, options: tuple[str, ...]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


_CONSTRUCTOR = yaml.SafeLoader("")
# libyaml's parser when PyYAML has it (same nodes and marks, several times faster).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
