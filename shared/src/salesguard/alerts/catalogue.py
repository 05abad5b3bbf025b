"""The kinds of alert: the rule that raises each, its severity, its title and message.

Titles and messages are English source texts marked for translation (context
``alert:<KIND>``); their translations are gettext catalogues (:mod:`salesguard.translations`).
A message may name evidence keys in braces; a missing key renders as "?". Where evidence
carries a text in Chinese too, a translation names it with ``_zh`` (``{summary_zh}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from salesguard.translations import Translatable


@dataclass(frozen=True)
class AlertKind:
    """One kind of alert: the rule that raises it and what it reads as."""

    kind: str
    rule: str
    severity: str
    title: Translatable
    message: Translatable


CATALOG: dict[str, AlertKind] = {
    kind.kind: kind
    for kind in (
        AlertKind(
            "LATE_REGISTRATION",
            "C2",
            "MEDIUM",
            Translatable("alert:LATE_REGISTRATION", "Late customer registration"),
            Translatable(
                "alert:LATE_REGISTRATION",
                "Customer {customer_code} was registered {hours_late} h after first contact (limit {limit_hours} h).",
            ),
        ),
        AlertKind(
            "DUPLICATE_CUSTOMER_CLAIM",
            "C3",
            # MEDIUM: the registry has already refused the claim, and most claims are a
            # shop's second buyer calling another rep (see README, "How well it detects").
            "MEDIUM",
            Translatable("alert:DUPLICATE_CUSTOMER_CLAIM", "Duplicate customer claimed"),
            Translatable(
                "alert:DUPLICATE_CUSTOMER_CLAIM",
                "An attempt to register customer {existing_code} again (matched on {matched_on}); a manager should decide.",
            ),
        ),
        AlertKind(
            "SIMILAR_CUSTOMER",
            "C3",
            # MEDIUM: a chain's second shop next door is real; a manager decides.
            "MEDIUM",
            Translatable("alert:SIMILAR_CUSTOMER", "Second record of another rep's customer"),
            Translatable(
                "alert:SIMILAR_CUSTOMER",
                "Customer {customer_code} was registered {distance_m} m from customer {existing_code} of another owner, with the same company name; a manager should decide whether it is a second record of the same shop.",
            ),
        ),
        AlertKind(
            "BULK_CONTACT_ACCESS",
            "C8",
            "HIGH",
            Translatable("alert:BULK_CONTACT_ACCESS", "Bulk access to contact data"),
            Translatable(
                "alert:BULK_CONTACT_ACCESS",
                "Contact fields of {customer_count} customers were read within {window_minutes} minutes (threshold {threshold}).",
            ),
        ),
        AlertKind(
            "EXPORT_WITHOUT_APPROVAL",
            "C9",
            "HIGH",
            Translatable("alert:EXPORT_WITHOUT_APPROVAL", "Export attempted without approval"),
            Translatable(
                "alert:EXPORT_WITHOUT_APPROVAL",
                "An export of {customer_count} customers was attempted while its request was {request_status}.",
            ),
        ),
        AlertKind(
            "CUSTOMER_NEGLECTED",
            "C11",
            "LOW",
            Translatable("alert:CUSTOMER_NEGLECTED", "Customer neglected"),
            Translatable(
                "alert:CUSTOMER_NEGLECTED",
                "Customer {customer_code} has had no follow-up for {days_silent} days; without one it returns to the branch pool in {pool_grace_days} days.",
            ),
        ),
        AlertKind(
            "SHARED_CONTACT_DETAIL",
            "C12",
            "MEDIUM",
            Translatable(
                "alert:SHARED_CONTACT_DETAIL",
                "Shared contact detail no longer blocks registrations",
            ),
            Translatable(
                "alert:SHARED_CONTACT_DETAIL",
                "The {criterion} {value} of customer {existing_code} is now treated as shared (e.g. a switchboard) and no longer blocks registrations: {why}. Check that it really is shared.",
            ),
        ),
        AlertKind(
            "LOCATION_MISMATCH",
            "A3",
            "MEDIUM",
            Translatable("alert:LOCATION_MISMATCH", "Check-in away from the customer"),
            Translatable(
                "alert:LOCATION_MISMATCH",
                "Checked in {distance_m} m from the linked customer's location (geofence {radius_m} m).",
            ),
        ),
        AlertKind(
            "UNLINKED_CUSTOMER_SITE",
            "A3",
            "HIGH",
            Translatable("alert:UNLINKED_CUSTOMER_SITE", "Visit to a customer not linked"),
            Translatable(
                "alert:UNLINKED_CUSTOMER_SITE",
                "Checked in {distance_m} m from a registered customer without linking the visit to it.",
            ),
        ),
        AlertKind(
            "IMPOSSIBLE_TRAVEL",
            "A3",
            "HIGH",
            Translatable("alert:IMPOSSIBLE_TRAVEL", "Impossible travel between check-ins"),
            Translatable(
                "alert:IMPOSSIBLE_TRAVEL",
                "Moved {distance_km} km in {minutes} minutes ({speed_kmh} km/h) since the previous check-in.",
            ),
        ),
        AlertKind(
            "MOCK_LOCATION",
            "A3",
            "HIGH",
            Translatable("alert:MOCK_LOCATION", "Simulated location"),
            Translatable(
                "alert:MOCK_LOCATION",
                "The device reported a mock location at check-in.",
            ),
        ),
        AlertKind(
            "PHOTO_REUSED",
            "A3",
            "HIGH",
            Translatable("alert:PHOTO_REUSED", "Photo reused"),
            Translatable(
                "alert:PHOTO_REUSED",
                "A check-in photo matches one of an earlier check-in ({earlier_check_in_id}).",
            ),
        ),
        AlertKind(
            "NEW_DEVICE",
            "A3",
            "LOW",
            Translatable("alert:NEW_DEVICE", "Check-in from a new device"),
            Translatable(
                "alert:NEW_DEVICE",
                "Checked in from a device never used before ({device_id}).",
            ),
        ),
        AlertKind(
            "PHOTO_MISSING_STREAK",
            "A5",
            "MEDIUM",
            Translatable("alert:PHOTO_MISSING_STREAK", "Field visits without photos"),
            Translatable(
                "alert:PHOTO_MISSING_STREAK",
                "Field check-ins on {days} consecutive working days without any photo ({first_day} to {last_day}).",
            ),
        ),
        AlertKind(
            "UNREGISTERED_SITE_REPEATED",
            "A5",
            "HIGH",
            Translatable(
                "alert:UNREGISTERED_SITE_REPEATED", "Repeated visits to an unregistered place"
            ),
            Translatable(
                "alert:UNREGISTERED_SITE_REPEATED",
                "{visits} check-ins within {window_days} days at one place where no customer is registered.",
            ),
        ),
        AlertKind(
            "ABNORMAL_CALL_PATTERN",
            "A6",
            "MEDIUM",
            Translatable("alert:ABNORMAL_CALL_PATTERN", "Abnormal call pattern"),
            Translatable(
                "alert:ABNORMAL_CALL_PATTERN",
                "{summary}",
            ),
        ),
        AlertKind(
            "ATTRIBUTION_MISMATCH",
            "O3",
            "MEDIUM",
            Translatable(
                "alert:ATTRIBUTION_MISMATCH", "Order submitted for another rep's customer"
            ),
            Translatable(
                "alert:ATTRIBUTION_MISMATCH",
                "Order {order_code} for customer {customer_code} was submitted by {submitted_by}, not by the customer's owner {owner_id}.",
            ),
        ),
        AlertKind(
            "UNREGISTERED_CUSTOMER",
            "O3",
            "HIGH",
            Translatable(
                "alert:UNREGISTERED_CUSTOMER", "Order predates the customer's registration"
            ),
            Translatable(
                "alert:UNREGISTERED_CUSTOMER",
                "Order {order_code} is dated {order_date}, but customer {customer_code} was registered only on {registered_on}.",
            ),
        ),
        AlertKind(
            "APPROVAL_DESPITE_WARNING",
            "O2",
            # HIGH: the approver was told that orders they approved for this rep look fake,
            # and approved another one (a manager approving a colluding rep's fake deals).
            "HIGH",
            Translatable("alert:APPROVAL_DESPITE_WARNING", "Approval despite a fake-deal warning"),
            Translatable(
                "alert:APPROVAL_DESPITE_WARNING",
                "Order {order_code} of {submitted_by} was approved while {warnings} alert(s) stood on orders this approver had approved for them ({warned_order_codes}).",
            ),
        ),
        AlertKind(
            "FAKE_DEAL_SUSPECTED",
            "O5",
            "HIGH",
            Translatable("alert:FAKE_DEAL_SUSPECTED", "Suspected fake deal"),
            Translatable(
                "alert:FAKE_DEAL_SUSPECTED",
                "Order {order_code} ({total} {currency}) was due on {expected_payment_date}: no payment and no shipment {days_past_due} days later.",
            ),
        ),
        AlertKind(
            "SHIPMENT_OVERDUE",
            "O5",
            # MEDIUM: a fake deal's first sign, weeks before its payment is due; an honest
            # order whose warehouse forgot to ship it or to record a back-order looks alike.
            "MEDIUM",
            Translatable("alert:SHIPMENT_OVERDUE", "Approved order not shipped"),
            Translatable(
                "alert:SHIPMENT_OVERDUE",
                "Order {order_code} ({total} {currency}) was approved on {approved_on}: neither shipped, back-ordered nor paid {days_since_approval} days later.",
            ),
        ),
        AlertKind(
            "PAYER_MISMATCH",
            "O5",
            "MEDIUM",
            Translatable("alert:PAYER_MISMATCH", "Payer differs from the customer"),
            Translatable(
                "alert:PAYER_MISMATCH",
                "Payment {bank_reference} ({amount} {currency}) for order {order_code} came from {payer_name}, not from the customer.",
            ),
        ),
        AlertKind(
            "DIVERSION_RISK",
            "O6",
            "HIGH",
            Translatable("alert:DIVERSION_RISK", "Regular customer gone quiet"),
            Translatable(
                "alert:DIVERSION_RISK",
                "No order for {days_silent} days (usual interval {usual_interval_days} days) since {last_order_date}, while the owner visited {visits_since_last_order} times and called {calls_since_last_order} times.",
            ),
        ),
        AlertKind(
            "SOURCE_CONFLICT",
            "M3",
            # MEDIUM: one claim may be a slip of the order form (the line is paid at the
            # company rate and waits for review anyway); a rep who keeps claiming adds up
            # in the risk score (README, "How risk is scored").
            "MEDIUM",
            Translatable(
                "alert:SOURCE_CONFLICT", "Personal channel claimed for a company customer"
            ),
            Translatable(
                "alert:SOURCE_CONFLICT",
                "Order {order_code} for customer {customer_code} claims the {source_claim} channel, but the registry holds the customer as {registered_source}: the commission is at the company rate, pending review.",
            ),
        ),
    )
}


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(kind: str, evidence: Mapping[str, Any], language: str) -> tuple[str, str]:
    """Title and message of an alert in ``language`` (an API language code, 'en' or 'zh');
    in English for a language without a catalogue."""
    entry = CATALOG.get(kind)
    if entry is None:
        return kind, ""
    return (
        entry.title.in_language(language),
        entry.message.in_language(language).format_map(_Defaulting(evidence)),
    )
