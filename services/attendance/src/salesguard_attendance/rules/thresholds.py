"""The detectors' thresholds as policy data gives them: the security team tunes them like
every other alert threshold (``thresholds.field_visits``, ``thresholds.call_patterns``);
what policy data leaves out keeps the default written on the rule's dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from salesguard_attendance.rules.calls import CallThresholds
from salesguard_attendance.rules.streaks import FieldVisitThresholds

T = TypeVar("T", FieldVisitThresholds, CallThresholds)


def from_policy(kind: type[T], values: Mapping[str, Any]) -> T:
    """The policy data's values over the defaults, each cast to its default's type."""
    defaults = kind()
    return kind(
        **{
            name: type(getattr(defaults, name))(values.get(name, getattr(defaults, name)))
            for name in defaults.__dataclass_fields__
        }
    )
