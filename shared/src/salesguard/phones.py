"""Phone numbers in one canonical form (E.164), so every service's blind index agrees.

The customers service indexes customers' phones and the attendance service
the numbers of imported calls with the same keyed hash; both must normalise
identically: '+86 138 0013 8000' and '13800138000' are one number.
"""

from __future__ import annotations

import phonenumbers

from salesguard.errors import InvalidInput

PHONE_INDEX_KIND = "phone"


def normalise_phone(raw: str, region: str, *, field: str = "phone") -> str:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(field, f"{field} is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput(field, f"{field} is not a possible phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def looks_like_phone(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    return digits >= 6 and all(ch.isdigit() or ch in "+-() " for ch in text)
