"""The source channel an order claims: ``SOURCE_CONFLICT`` raised at submission.

A customer's source channel is fixed at registration and only a manager may change it.
An order may still claim a channel: claiming the rep's own network (``PERSONAL``) for a
customer the registry holds as company channel asks for the personal rate the registry
does not give. The commission run already pays such a line at the company rate and holds
it for review (the commissions service's ``rules/source_conflict.py`` decides the rate);
here the order is flagged and raises one alert, so that a person is told when it happens
and the risk ranking sees a rep who keeps doing it.

Pure: the ordering module passes the claim and the registered channel, and stores and
raises what this returns.
"""

from __future__ import annotations

from salesguard.vocabulary import COMPANY_CHANNELS
from salesguard.vocabulary import PERSONAL_CHANNEL as PERSONAL

SOURCE_CONFLICT = "SOURCE_CONFLICT"


def source_flags(*, source_claim: str, registered_source: str) -> list[str]:
    """``SOURCE_CONFLICT`` when the order claims the personal channel for a customer
    registered through a company channel. A customer the registry holds as PERSONAL, a
    company-channel claim, or a source the registry does not know (``UNSPECIFIED``) is no
    conflict to raise."""
    if source_claim == PERSONAL and registered_source in COMPANY_CHANNELS:
        return [SOURCE_CONFLICT]
    return []
