"""Settings of the attendance service (on top of the shared ones)."""

from __future__ import annotations

from salesguard.settings import Settings


class AttendanceSettings(Settings):
    """The people directory needs nothing beyond the shared settings yet."""
