"""Moved to the shared package (commissions uses it too); import ``salesguard.money``.

Kept only until the modules being written against this path switch over.
"""

from salesguard.money import *  # noqa: F403
