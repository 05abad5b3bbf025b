"""How masked values look: ``138****5678``, ``z***@example.com``."""

from __future__ import annotations

from collections.abc import Callable

MASK = "****"


def mask_phone(e164: str) -> str:
    """Keep the first three and last four digits of the national number."""
    body = e164[1:] if e164[:1] == "+" else e164
    # Stored numbers are E.164 (ASCII digits after "+"): those are their own digits.
    if body.isascii() and body.isdigit():
        digits = body
    else:
        digits = "".join(ch for ch in e164 if ch.isdigit())
    national = digits[2:] if e164.startswith("+86") else digits
    if len(national) <= 7:
        return MASK + national[-2:]
    return f"{national[:3]}{MASK}{national[-4:]}"


def mask_email(email: str) -> str:
    local, at, domain = email.partition("@")
    if not at:
        return MASK
    return f"{local[:1]}***@{domain}"


def mask_address(address: str) -> str:
    """Keep the city-level prefix, hide the street and number."""
    if not address:
        return ""
    keep = max(1, min(6, len(address) // 3))
    return address[:keep] + MASK


def mask_name(name: str) -> str:
    """A person's name with all but the first character hidden: 张三 → 张*."""
    if not name:
        return ""
    return name[:1] + "*" * max(1, len(name) - 1)


MASKERS: dict[str, Callable[[str], str]] = {
    "phone": mask_phone,
    "email": mask_email,
    "address": mask_address,
}


def mask_value(field: str, value: str) -> str:
    if not value:
        return value
    masker = MASKERS.get(field)
    return masker(value) if masker is not None else MASK
