"""Registries of extensions and the bindings the study file resolves their names into.

A registry maps the names a study file may write (``method: {name: cdt}``, ``stopping:
{scheduler: asha}``, ``search: {algorithm: optuna}``, ``workload: digits_mlp``) to
``"module:attribute"`` references, imported only when a study names them. :meth:`Registry.load`
and :meth:`Registry.ref` are the only places a name is looked up; the parser calls them once per
study and keeps what they return, so nothing downstream looks a name up again.

A :class:`Binding` is a registered extension class together with its own validated settings
(``Method[S]`` holds an ``S``). The study file's blocks become bindings on the ``Study``; they
are plain objects (the class is pickled by reference, the settings as data), so they travel to
Ray Tune's processes as they are.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Settings(BaseModel):
    """Base of every extension's settings block: frozen, unknown keys are errors, and so are
    NaN and infinities in every number (a key that means something by them says so with its
    own ``Field(allow_inf_nan=True)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


S = TypeVar("S", bound=Settings)


class Binding(Generic[S]):
    """A registered extension bound to its settings. Subclasses declare ``name`` (as written in
    the study file) and ``settings_model`` (the pydantic model of their block, an ``S``)."""

    name: ClassVar[str]
    settings_model: ClassVar[type[Settings]]

    def __init__(self, settings: S) -> None:
        self.settings: S = settings

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.settings == self.settings

    __hash__ = None  # type: ignore[assignment]  # settings may hold lists

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r})"


class UnknownName(LookupError):
    """A name that is not in the registry; ``hint`` suggests the closest one."""

    def __init__(self, kind: str, name: str, names: list[str]) -> None:
        self.kind, self.name, self.names = kind, name, names
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        self.hint = f"; did you mean '{close[0]}'?" if close else f"; available: {', '.join(names)}"
        super().__init__(f"unknown {kind} '{name}'{self.hint}")


class Registry(Generic[T]):
    """Names -> ``"module:attribute"`` references of one kind of extension."""

    def __init__(self, kind: str, refs: Mapping[str, str]) -> None:
        self.kind = kind
        self._refs = dict(refs)

    def __contains__(self, name: object) -> bool:
        return name in self._refs

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def ref(self, name: str) -> str:
        """The reference registered under ``name`` (nothing is imported). Raises UnknownName."""
        if name not in self._refs:
            raise UnknownName(self.kind, name, list(self._refs))
        return self._refs[name]

    def load(self, name: str) -> T:
        """The attribute registered under ``name``, imported now. Raises UnknownName, or
        ImportError when its module cannot be imported here."""
        return load(self.ref(name))  # type: ignore[no-any-return]  # T: what was registered


def load(ref: str) -> Any:
    """Import ``module`` and return its ``attribute`` for a ``"module:attribute"`` reference."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
