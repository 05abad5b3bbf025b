"""Orders you can trace (O4): payments (once per bank reference, reversals, quoted order
codes, voucher photos, who sees them) and shipments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from salesguard.errors import ErrorCode
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_api.orders.v1 import payments_pb2
from salesguard_orders.rules.payments import quoted_order_number
from tests.harness import Suite, unique
from tests.integration.orders.support import Client, customer_of
from tests.photos import jpeg, put, scene
from tests.support.orders_service import People, refused

# -- payments (O4) -----------------------------------------------------------------------------


async def approved_order(suite: Suite, client: Client, people: People) -> pb.Order:
    customer = await customer_of(suite, people.junior)
    order = await client.one_line_order(people.junior, customer, "50", quantity="2")
    return await client.decide(people.manager, order.id)


async def test_a_payment_is_recorded_once_per_bank_reference(
    suite: Suite, client: Client, people: People
) -> None:
    order = await approved_order(suite, client, people)
    reference = unique("BR")
    first = await client.record_payment(
        people.finance,
        bank_reference=reference,
        payer_name="  ACME   Trading ",
        payer_account="6222 0000 1111",
        amount="100.00",
        reference_text=f"payment for {order.code}, thanks",
        order_id=order.id,
    )
    payment = first.payment
    assert not first.duplicate
    assert (payment.bank_reference, payment.amount.value, payment.currency) == (
        reference,
        "100.00",
        "CNY",
    )
    assert payment.payer_name == "ACME   Trading"
    assert payment.order_id == order.id
    assert payment.branch_id == people.org.branch
    assert payment.recorded_by == people.finance.id
    assert not payment.reversed

    again = await client.record_payment(
        people.finance,
        bank_reference=reference,
        amount="100",
        paid_at=payment.paid_at,
        reference_text="whatever",
    )
    assert again.duplicate
    assert again.payment.id == payment.id
    error = await refused(
        client.record_payment(people.finance, bank_reference=reference, amount="100.01"),
        ErrorCode.CONFLICT,
    )
    assert error.details.get("field") == "amount"
    await refused(
        client.record_payment(
            people.finance, bank_reference=reference, amount="100", currency="USD"
        ),
        ErrorCode.CONFLICT,
    )
    listed = await client.list_payments(people.finance, order_id=order.id)
    assert [p.id for p in listed] == [payment.id]

    # Bad input is refused, naming the field; nothing is stored.
    bad: list[tuple[dict[str, Any], str]] = [
        ({"amount": "10.12345"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"bank_reference": ""}, "bank_reference"),
        ({"bank_reference": "R" * 129}, "bank_reference"),
        ({"paid_at": to_timestamp(datetime.now(UTC) + timedelta(days=1))}, "paid_at"),
        ({"order_id": "no-such-order"}, "order_id"),
        ({"voucher_key": "vouchers/someone/else.jpg"}, "voucher_key"),
    ]
    references = []
    for changes, field in bad:
        values: dict[str, Any] = {"bank_reference": unique("BR"), "amount": "10", **changes}
        references.append(values["bank_reference"])
        error = await refused(client.record_payment(people.finance, **values), ErrorCode.VALIDATION)
        assert error.field == field, (changes, error)
    paid = await client.list_payments(people.finance, order_id=order.id)
    assert len(paid) == 1
    # A currency is stored as its code, however the caller wrote it.
    usd = await client.record_payment(people.finance, amount="5", currency=" usd ")
    assert usd.payment.currency == "USD"


async def test_reversal_needs_a_kind_and_a_reason_and_happens_once(
    suite: Suite, client: Client, people: People
) -> None:
    recorded = (await client.record_payment(people.finance, amount="88.80")).payment

    async def reverse(
        kind: payments_pb2.ReversalKind.ValueType, reason: str
    ) -> payments_pb2.Payment:
        with acting_as(people.finance):
            response = await client.payments.ReversePayment(
                payments_pb2.ReversePaymentRequest(
                    payment_id=recorded.id,
                    kind=kind,
                    reason=reason,
                )
            )
        return response.payment

    assert (
        await refused(reverse(payments_pb2.REVERSAL_KIND_REFUND, ""), ErrorCode.VALIDATION)
    ).field == "reason"
    assert (
        await refused(reverse(payments_pb2.REVERSAL_KIND_UNSPECIFIED, "x"), ErrorCode.VALIDATION)
    ).field == "kind"
    reversed_ = await reverse(payments_pb2.REVERSAL_KIND_CHARGEBACK, "card holder disputed")
    assert reversed_.reversed
    assert reversed_.reversal_kind == payments_pb2.REVERSAL_KIND_CHARGEBACK
    assert reversed_.reversal_reason == "card holder disputed"
    assert reversed_.reversed_by == people.finance.id
    assert reversed_.reversed_at.seconds > 0
    await refused(
        reverse(payments_pb2.REVERSAL_KIND_REFUND, "again"), ErrorCode.FAILED_PRECONDITION
    )
    # Never deleted: still listed, reversed.
    [kept] = [
        p
        for p in await client.list_payments(people.finance, unmatched_only=True)
        if p.id == recorded.id
    ]
    assert kept.reversed
    # Only finance reverses.
    with acting_as(people.manager):
        await refused(
            client.payments.ReversePayment(
                payments_pb2.ReversePaymentRequest(
                    payment_id=recorded.id, kind=payments_pb2.REVERSAL_KIND_REFUND, reason="x"
                )
            ),
            ErrorCode.FORBIDDEN,
        )


async def test_quoted_order_codes_are_extracted(client: Client, people: People) -> None:
    # Numbers no order of the shared suite reaches: these payments stay open, and one quoting
    # an order another test creates would be matched to it (O5) and pay it.
    texts = {
        "货款 O-900123 谢谢": 900123,
        "ref o-904567": 904567,
        "INV O900042/2024": 900042,
        "no order here 900123": None,
        "orders O-900001 and O-900002": None,
        "PO-900123X": None,
    }
    for text, number in texts.items():
        recorded = (
            await client.record_payment(people.finance, amount="1", reference_text=text)
        ).payment
        assert recorded.reference_text == text
        assert quoted_order_number(text) == number, text


async def test_payments_are_invisible_to_reps_and_scoped_for_managers(
    suite: Suite, client: Client, people: People
) -> None:
    order = await approved_order(suite, client, people)
    for_order = (
        await client.record_payment(people.finance, amount="100", order_id=order.id)
    ).payment
    unmatched = (await client.record_payment(people.finance, amount="7")).payment
    for rep in (people.junior, people.junior_mate):
        await refused(client.list_payments(rep), ErrorCode.FORBIDDEN)
        await refused(client.record_payment(rep, amount="1"), ErrorCode.FORBIDDEN)
    managers = {p.id for p in await client.list_payments(people.manager)}
    assert for_order.id in managers
    assert unmatched.id not in managers  # an unmatched payment belongs to no branch yet
    assert for_order.id not in {p.id for p in await client.list_payments(people.other_manager)}
    for everyone in (people.finance, people.hr):
        seen = {p.id for p in await client.list_payments(everyone)}
        assert {for_order.id, unmatched.id} <= seen


async def test_a_voucher_photo_is_uploaded_then_named(
    suite: Suite, client: Client, people: People
) -> None:
    data = jpeg(scene(7))
    with acting_as(people.finance):
        created = await client.payments.CreateUpload(
            payments_pb2.CreateUploadRequest(
                purpose=payments_pb2.UPLOAD_PURPOSE_VOUCHER,
                content_type="image/jpeg",
                size_bytes=len(data),
            )
        )
    assert created.key.startswith(f"vouchers/{people.finance.id}/")
    # Not uploaded yet: refused.
    error = await refused(
        client.record_payment(people.finance, amount="5", voucher_key=created.key),
        ErrorCode.VALIDATION,
    )
    assert error.field == "voucher_key"
    await put(
        suite,
        {"uploadUrl": created.upload_url, "uploadHeaders": dict(created.upload_headers)},
        data,
    )
    recorded = (
        await client.record_payment(people.finance, amount="5", voucher_key=created.key)
    ).payment
    assert recorded.voucher_key == created.key
    # A voucher proves one payment.
    await refused(
        client.record_payment(people.finance, amount="6", voucher_key=created.key),
        ErrorCode.VALIDATION,
    )

    with acting_as(people.finance):
        statement = await client.payments.CreateUpload(
            payments_pb2.CreateUploadRequest(
                purpose=payments_pb2.UPLOAD_PURPOSE_STATEMENT,
                content_type="text/csv",
                size_bytes=2048,
            )
        )
        assert statement.key.startswith(f"statements/{people.finance.id}/")
        assert statement.key.endswith(".csv")
        for purpose, content_type, size in (
            (payments_pb2.UPLOAD_PURPOSE_STATEMENT, "image/png", 100),
            (payments_pb2.UPLOAD_PURPOSE_VOUCHER, "text/csv", 100),
            (payments_pb2.UPLOAD_PURPOSE_VOUCHER, "image/png", 0),
            (payments_pb2.UPLOAD_PURPOSE_VOUCHER, "image/png", 100 * 1024 * 1024),
            (payments_pb2.UPLOAD_PURPOSE_UNSPECIFIED, "image/png", 100),
        ):
            await refused(
                client.payments.CreateUpload(
                    payments_pb2.CreateUploadRequest(
                        purpose=purpose, content_type=content_type, size_bytes=size
                    )
                ),
                ErrorCode.VALIDATION,
            )
    with acting_as(people.junior):
        await refused(
            client.payments.CreateUpload(
                payments_pb2.CreateUploadRequest(
                    purpose=payments_pb2.UPLOAD_PURPOSE_VOUCHER,
                    content_type="image/png",
                    size_bytes=100,
                )
            ),
            ErrorCode.FORBIDDEN,
        )


# -- shipments (O4) -----------------------------------------------------------------------------


async def test_shipments_need_an_approved_order(
    suite: Suite, client: Client, people: People
) -> None:
    customer = await customer_of(suite, people.junior)
    order = await client.one_line_order(people.junior, customer, "10")
    shipped_at = datetime.now(UTC) - timedelta(days=2)

    async def ship(principal: Principal, **values: Any) -> payments_pb2.Shipment:
        request = payments_pb2.RecordShipmentRequest(
            order_id=order.id,
            carrier="SF Express",
            tracking_number="SF123456789",
            shipped_at=to_timestamp(shipped_at),
        )
        for name, value in values.items():
            if isinstance(value, datetime):
                getattr(request, name).CopyFrom(to_timestamp(value))
            else:
                setattr(request, name, value)
        with acting_as(principal):
            return (await client.payments.RecordShipment(request)).shipment

    await refused(ship(people.manager), ErrorCode.FAILED_PRECONDITION)
    await client.decide(people.manager, order.id)
    await refused(ship(people.junior), ErrorCode.FORBIDDEN)
    await refused(ship(people.other_manager), ErrorCode.FORBIDDEN)
    error = await refused(
        ship(people.manager, delivered_at=shipped_at - timedelta(hours=1)), ErrorCode.VALIDATION
    )
    assert error.field == "delivered_at"
    await refused(ship(people.manager, carrier=""), ErrorCode.VALIDATION)
    shipment = await ship(people.manager)
    assert shipment.carrier == "SF Express"
    assert not shipment.HasField("delivered_at")
    assert (await client.get(people.junior, order.id)).shipped
    # The same parcel again, now delivered: one shipment, with its delivery time.
    delivered = await ship(people.manager, delivered_at=shipped_at + timedelta(days=1))
    assert delivered.id == shipment.id
    assert delivered.delivered_at.seconds == int((shipped_at + timedelta(days=1)).timestamp())

    with acting_as(people.junior):
        listed = await client.payments.ListShipments(
            payments_pb2.ListShipmentsRequest(order_id=order.id)
        )
    assert [s.id for s in listed.shipments] == [shipment.id]
    with acting_as(people.junior_mate):
        await refused(
            client.payments.ListShipments(payments_pb2.ListShipmentsRequest(order_id=order.id)),
            ErrorCode.NOT_FOUND,
        )
