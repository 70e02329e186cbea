"""The default method: search the study's space with its searcher and scheduler."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from searchlab.methods.base import Method, MethodSettings, TrialPlan

if TYPE_CHECKING:
    from searchlab.spec.models import Study


class SearchSettings(MethodSettings):
    """Plain search has no settings of its own."""


class SearchMethod(Method):
    name: ClassVar[str] = "search"
    settings_model: ClassVar[type[MethodSettings]] = SearchSettings

    def plan(self, settings: MethodSettings, study: Study) -> TrialPlan | None:
        return None
