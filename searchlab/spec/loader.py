"""Safe YAML loading that remembers the line of every key, for errors that point at the file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from searchlab.errors import SpecError

Loc = tuple[Any, ...]
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


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
        from searchlab.errors import key_path

        loc = self.written(tuple(loc))
        return SpecError(message, file=self.file, line=self.line_of(loc), path=key_path(loc) or None)


def load_file(path: str | Path) -> Document:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SpecError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a study file", file=str(path)) from None
    except OSError as e:
        raise SpecError(f"cannot read: {e.strerror}", file=str(path)) from None
    return load_bytes(raw, str(path))


def load_bytes(raw: bytes, file: str = "<study>") -> Document:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise SpecError("not valid UTF-8 text", file=file, line=line) from None
    return load_text(text, file)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as 1e-4 (YAML 1.1 makes them strings)."""


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_text(text: str, file: str = "<study>") -> Document:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        raise SpecError(f"invalid YAML: character {e.character!r} is not allowed", file=file,
                        line=line) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError("the file is empty; a study needs at least `name` and `workload`", file=file)
        lines: dict[Loc, int] = {}
        data = _build(loader, node, (), lines, file)
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


def _build(loader: yaml.SafeLoader, node: yaml.Node, loc: Loc, lines: dict[Loc, int], file: str) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if len(loc) > 64:
        raise SpecError("the document is nested too deeply (more than 64 levels)", file=file,
                        line=node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        raise SpecError(f"invalid YAML: tag {node.tag!r} is not allowed (plain data only)", file=file,
                        line=node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise SpecError("keys must be plain names", file=file, line=key_node.start_mark.line + 1)
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                raise SpecError(f"duplicate key '{key}'", file=file, line=key_node.start_mark.line + 1)
            lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(loader, value_node, loc + (key,), lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, loc + (i,), lines, file) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
