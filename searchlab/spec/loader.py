"""Safe YAML loading that remembers the line of every key, for errors that point at the file.

What it accepts is bounded, so a hostile or careless file (an alias bomb, a 50 MB list) is refused
in well under a second and a few MB instead of filling the memory: at most :data:`MAX_BYTES` of
text, :data:`MAX_VALUES` values in the document (each alias expansion counted again), and
:data:`MAX_ITEMS` items in one list or mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from searchlab.errors import SpecError, clip, clip_quoted, key_path

Loc = tuple[Any, ...]
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")

MAX_BYTES = 1 << 20
"""A study file's largest size (1 MiB; a long one is a few KB)."""
MAX_VALUES = 20_000
"""The most values (scalars, lists, mappings) a document holds once its aliases are expanded."""
MAX_ITEMS = 10_000
"""The most items in one list or mapping."""
MAX_DEPTH = 64
"""The most levels of nesting."""


class _TooLarge(Exception):
    """A bound of the loader was passed at ``line`` (1-based)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


@dataclass(frozen=True)
class Document:
    """A loaded study file: its data, its text, and the line (1-based) of each key path."""

    data: dict[str, Any]
    text: str
    file: str
    lines: dict[Loc, int]

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc`` or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None

    def written(self, loc: Loc) -> Loc:
        """``loc`` without the parts the file does not write: an error inside a tagged union
        (CDT's ``environments`` by ``kind``, its ``bandits``) names the union's tag, as in
        ``method.environments.0.data.file``, which is no key of the file."""
        out: list[Any] = []
        for i, part in enumerate(loc):
            if (*out, part) not in self.lines and i + 1 < len(loc) and \
                    (*out, loc[i + 1]) in self.lines:
                continue
            out.append(part)
        return tuple(out)

    def error(self, message: str, loc: Loc = ()) -> SpecError:
        """The error at ``loc`` (without the parts the file does not write), its echoed values
        (quoted in ``message``, keys in the path) cut to a readable length."""
        loc = self.written(tuple(loc))
        path = key_path(tuple(clip(p, 40) if isinstance(p, str) else p for p in loc))
        return SpecError(clip_quoted(message), file=self.file, line=self.line_of(loc),
                         path=path or None)


def load_file(path: str | Path) -> Document:
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a study file", file=str(path)) from None
    except OSError as e:
        raise SpecError(f"cannot read: {e.strerror}", file=str(path)) from None
    return load_bytes(raw, str(path))


def load_bytes(raw: bytes, file: str = "<study>") -> Document:
    if len(raw) > MAX_BYTES:
        raise _too_big(file, raw[:MAX_BYTES].count(b"\n") + 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise SpecError("not valid UTF-8 text", file=file, line=line) from None
    return load_text(text, file)


def _too_big(file: str, line: int) -> SpecError:
    """The file passes :data:`MAX_BYTES` at ``line``."""
    return SpecError(f"the file is larger than {MAX_BYTES >> 20} MiB; a study file is a few KB "
                     "(give large data to the workload as a path)", file=file, line=line)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as 1e-4 (YAML 1.1 makes them strings),
    and stops composing past :data:`MAX_VALUES` values or :data:`MAX_ITEMS` items in a list."""

    values = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _TooLarge(f"the file holds more than {MAX_VALUES:,} values; a study file is a "
                            "few dozen", self.peek_event().start_mark.line + 1)
        if isinstance(parent, yaml.SequenceNode) and index >= MAX_ITEMS:
            raise _TooLarge(f"a list of more than {MAX_ITEMS:,} items",
                            parent.start_mark.line + 1)
        return super().compose_node(parent, index)

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # PyYAML's scanner looks ahead over every open bracket (quadratic in the depth): stop
        # at the depth _build refuses anyway
        if self.flow_level >= MAX_DEPTH:
            raise _TooLarge(f"the document is nested too deeply (more than {MAX_DEPTH} levels)",
                            self.get_mark().line + 1)
        super().fetch_flow_collection_start(token_class)

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # its merges (<<: *x) come through this method too: counted before PyYAML expands them
        # (newer PyYAML drops repeated merged keys as it goes, older copies every one); the count
        # bounds the flattened size, so nothing needs checking after
        if _merged_size(node, {}) > MAX_ITEMS:
            raise _TooLarge(f"a mapping of more than {MAX_ITEMS:,} keys (with its merges)",
                            node.start_mark.line + 1)
        super().flatten_mapping(node)


def _merged_size(node: yaml.MappingNode, seen: dict[int, int]) -> int:
    """The keys of ``node`` with every merge (``<<``) expanded, repeats counted: an upper bound
    of its size once flattened, computed once per merged node (an alias bomb stays cheap)."""
    if id(node) in seen:
        return seen[id(node)]
    size = 0
    for key, value in node.value:
        if key.tag != "tag:yaml.org,2002:merge":
            size += 1
            continue
        merged = value.value if isinstance(value, yaml.SequenceNode) else [value]
        size += sum(_merged_size(m, seen) for m in merged if isinstance(m, yaml.MappingNode))
    seen[id(node)] = size
    return size


_Loader.yaml_implicit_resolvers = {k: list(v)
                                   for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_text(text: str, file: str = "<study>") -> Document:
    if len(text) > MAX_BYTES:  # characters; the bytes are checked before decoding
        raise _too_big(file, text[:MAX_BYTES].count("\n") + 1)
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        raise SpecError(f"invalid YAML: character {e.character!r} is not allowed", file=file,
                        line=line) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError("the file is empty; a study needs at least `name` and `workload`",
                            file=file)
        lines: dict[Loc, int] = {}
        data = _build(loader, node, (), lines, file, [0])
    except _TooLarge as e:
        raise SpecError(e.message, file=file, line=e.line) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        raise SpecError(f"invalid YAML: {problem}", file=file,
                        line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise SpecError(f"invalid YAML: {str(e).splitlines()[0]}", file=file) from None
    except RecursionError:
        raise SpecError("the document is nested too deeply", file=file) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecError("a study file must be a mapping of keys (name:, workload:, space:, ...)",
                        file=file, line=node.start_mark.line + 1)
    return Document(data, text, file, lines)


def _build(loader: yaml.SafeLoader, node: yaml.Node, loc: Loc, lines: dict[Loc, int], file: str,
           built: list[int]) -> Any:
    """The data of ``node`` at ``loc``; ``built`` counts the values made so far (an alias
    makes its anchor's values again)."""
    built[0] += 1
    if built[0] > MAX_VALUES:
        top = loc[:1]
        raise _TooLarge(f"{key_path(top) or 'the document'} expands to more than "
                        f"{MAX_VALUES:,} values through YAML aliases (*name); a study file is a "
                        "few dozen", lines.get(top))
    lines.setdefault(loc, node.start_mark.line + 1)
    if len(loc) > MAX_DEPTH:
        raise SpecError(f"the document is nested too deeply (more than {MAX_DEPTH} levels)",
                        file=file, line=node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        raise SpecError(f"invalid YAML: tag {node.tag!r} is not allowed (plain data only)",
                        file=file,
                        line=node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("keys must be plain names", file=file,
                                line=key_node.start_mark.line + 1)
            key = _scalar(loader, key_node, file)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise SpecError("keys must be plain names", file=file,
                                line=key_node.start_mark.line + 1)
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                raise SpecError(f"duplicate key '{clip(key)}'", file=file,
                                line=key_node.start_mark.line + 1)
            lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(loader, value_node, loc + (key,), lines, file, built)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, loc + (i,), lines, file, built)
                for i, item in enumerate(node.value)]
    return _scalar(loader, node, file)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node, file: str) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except ValueError as e:  # an integer of more than 4300 digits (Python's bound)
        what = "a number too long to read" if "digits" in str(e) else clip(str(e), 120)
        raise SpecError(f"invalid value: {what}", file=file, line=node.start_mark.line + 1) \
            from None
