"""M5: runs are deterministic and idempotent; a locked period never changes.

- A line's ID is derived from (period, branch, order, kind) alone, so the same inputs
  give byte-identical lines and a re-run of an open period replaces them in place.
- A period is OPEN until someone locks it, which needs a run first. A run of a LOCKED
  period is refused when it names the branch and leaves it alone when it runs every
  branch; a freeze changes only lines of OPEN periods (:func:`in_open_period`).
  Corrections of a locked period are new lines in a later one (clawbacks).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

from sqlalchemy import ColumnElement, FromClause, exists

from salesguard_commissions.rules.vocabulary import LOCKED, OPEN

LINE_NAMESPACE = uuid.UUID("6f1d3c52-7a0e-5b7e-9c1a-2f4b8d0e6a31")
_NAMESPACE_BYTES = LINE_NAMESPACE.bytes


def line_id(period: str, branch_id: str, order_id: str, kind: str) -> str:
    """The ID of a line, derived from (period, branch, order, kind) only: the hex of
    ``uuid5(LINE_NAMESPACE, name)``, computed without building UUID objects (hot loop)."""
    name = f"{period}\x1f{branch_id}\x1f{order_id}\x1f{kind}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


# The hex digit of byte 8's high nibble once its top bits are the variant's (10xx).
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def line_ids(period: str, branch_id: str, kind: str) -> Callable[[str], str]:
    """:func:`line_id` of one period, branch and kind, by order ID: the same hex, the
    name's fixed parts encoded once and the version and variant set in the hex digits
    (hot loop: a run's every line)."""
    prefix = _NAMESPACE_BYTES + f"{period}\x1f{branch_id}\x1f".encode()
    suffix = f"\x1f{kind}".encode()
    sha1 = hashlib.sha1
    variant = _VARIANT_DIGIT

    def of(order_id: str) -> str:
        digest = sha1(prefix + order_id.encode() + suffix, usedforsecurity=False).hexdigest()
        # Digit 12 is the version (5), digit 16 carries the variant.
        return f"{digest[:12]}5{digest[13:16]}{variant[digest[16]]}{digest[17:32]}"

    return of


def may_change(period_status: str | None) -> bool:
    """Whether a period's lines may still change (a period not yet run is open)."""
    return period_status != LOCKED


def is_open(period_status: str | None) -> bool:
    """Whether a period that has run is still open (what :func:`in_open_period` asks)."""
    return period_status == OPEN


def may_lock(run_count: int) -> bool:
    """A period is locked only once it has run."""
    return run_count > 0


def in_open_period(lines: FromClause, periods: FromClause) -> ColumnElement[bool]:
    """The lines whose period (of their branch) is OPEN, as an SQL condition."""
    return exists().where(
        periods.c.branch_id == lines.c.branch_id,
        periods.c.period == lines.c.period,
        periods.c.status == OPEN,
    )
