"""What one payment costs as history grows: RecordPayment with 1 000 and 100 000 settled orders.

Recording a payment reconciles the orders it touches in the same transaction (O5): it is
matched by the order code it quotes, or by its payer and amount, and its order is
classified. That must cost what the payment touches, not what the database holds. Full
profile as deployed: PostgreSQL, an OPA server, the orders service in its own process,
RecordPayment over gRPC as finance.

For each history size the database holds that many closed, reconciled orders with their
payments (and a tenth more unmatched payments), plus the approved, unpaid orders the
measured payments pay: half quote their order's code, half only name the customer and
the amount. Printed: latency per payment by kind, and the ratio of the largest history's
median to the smallest's (1.0: flat); then, for contrast, one full reconciliation run.

    uv run python -m benchmarks.incremental_reconciliation [--histories 1000 100000]
                                                         [--payments 200]
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime

from sqlalchemy import text

from benchmarks.support import HEADER, REPO, arguments, percentile, start_service, stop_all, summary
from salesguard.db import Database
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.settings import DEV_INTERNAL_SECRET
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.orders.v1 import payments_pb2, payments_pb2_grpc
from tests.support.orders_history import insert_orders, seed_history
from tests.support.servers import OpaServer, PostgresDatabases, free_port

# Approved, unpaid orders numbered after the history, one per measured payment (and the
# warm-up's): customer k's only order, of a total no history order has.
OPEN_ORDERS = insert_orders("""
SELECT n, md5('open-order' || n), md5('open-customer' || n), 'C-OPEN',
       'rep-1', 'rep-1', 'team-1', 'branch-1', 'CNY', 123400 + n, current_date,
       current_date + 30, 'WEBSITE', 'WEBSITE', 'APPROVED', '[]', 'open customer ' || n,
       'open company ' || n, '', now(), now(), 'UNPAID', 0, NULL, false
FROM generate_series(CAST(:first AS bigint), :last) AS n
""")
WARM_UP = 20
FINANCE = Principal("bench-finance", ("FINANCE",), None, "bench-hq", hq=True)


def money(minor: int) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=f"{minor // 100}.{minor % 100:02d}")


async def measure(
    history: int, payments: int, databases: PostgresDatabases, opa: OpaServer
) -> tuple[dict[str, list[float]], float]:
    """Milliseconds per RecordPayment by kind, and seconds of one full run."""
    url = await databases.create(f"bench_incremental_{history}")
    port = free_port()
    processes = []
    with tempfile.TemporaryDirectory() as data_dir:
        env = {key: value for key, value in os.environ.items() if not key.startswith("SALESGUARD_")}
        env |= {
            "SALESGUARD_PROFILE": "full",
            "SALESGUARD_OPA_URL": opa.url,
            "SALESGUARD_LOG_LEVEL": "WARNING",
            "SALESGUARD_DATA_DIR": data_dir,
            "SALESGUARD_GRPC_PORT": str(port),
            "SALESGUARD_DATABASE_URL": url,
            "SALESGUARD_ORDERS_ADDRESS": f"127.0.0.1:{port}",
        }
        processes.append(start_service("orders", env, port))  # migrates on start
        channels = ServiceChannels(
            {"orders": env["SALESGUARD_ORDERS_ADDRESS"]}, DEV_INTERNAL_SECRET.encode(), 600
        )
        try:
            db = Database(url)
            first, last = history + 1, history + WARM_UP + payments
            # History first (it sets the order numbers' sequence), the open orders after.
            await seed_history(db, history)
            async with db.transaction() as session:
                await session.execute(text(OPEN_ORDERS), {"first": first, "last": last})
            await db.dispose()
            stub = payments_pb2_grpc.PaymentsServiceStub(channels.channel("orders"))
            samples: dict[str, list[float]] = {
                "quoting the order code": [],
                "customer + amount": [],
            }
            for n in range(first, last + 1):
                by_code = n % 2 == 0
                request = payments_pb2.RecordPaymentRequest(
                    bank_reference=f"BENCH-{n}",
                    payer_name="Someone" if by_code else f"Open Customer {n}",
                    amount=money(123400 + n),
                    currency="CNY",
                    paid_at=to_timestamp(datetime.now(UTC)),
                    reference_text=f"payment for O-{n:06d}" if by_code else "",
                )
                started = time.perf_counter()
                with acting_as(FINANCE):
                    response = await stub.RecordPayment(request)
                elapsed = (time.perf_counter() - started) * 1000
                expected = "ORDER_CODE" if by_code else "CUSTOMER_AMOUNT"
                assert response.payment.matched_by == expected, response
                if n >= first + WARM_UP:
                    kind = "quoting the order code" if by_code else "customer + amount"
                    samples[kind].append(elapsed)
            reconciliation = payments_pb2_grpc.ReconciliationServiceStub(channels.channel("orders"))
            started = time.perf_counter()
            with acting_as(FINANCE):
                ran = await reconciliation.RunReconciliation(
                    # Its day named: no directory to ask for the caller's.
                    payments_pb2.RunReconciliationRequest(
                        as_of=datetime.now(UTC).date().isoformat()
                    )
                )
            full_run = time.perf_counter() - started
            # Every measured payment reconciled its order at once: the run found them so.
            assert ran.reconciled >= history + WARM_UP + payments, ran
            return samples, full_run
        finally:
            await channels.close()
            stop_all(processes)


async def run(histories: list[int], payments: int) -> None:
    databases = PostgresDatabases(os.environ.get("SALESGUARD_TEST_POSTGRES_URL"))
    opa = OpaServer(REPO / "policies").start()
    results: dict[int, tuple[dict[str, list[float]], float]] = {}
    try:
        for history in histories:
            results[history] = await measure(history, payments, databases, opa)
    finally:
        opa.close()
        await databases.drop_all()
    print(
        f"\nRecordPayment over gRPC (reconciles its order in the same transaction), {payments} payments"
    )
    print(HEADER)
    for history, (samples, _) in results.items():
        for kind, values in samples.items():
            print(summary(f"{history:>7,} orders, {kind}", values))
    smallest, largest = histories[0], histories[-1]
    print(f"\n  median at {largest:,} orders / median at {smallest:,} orders (1.0 = flat):")
    for kind in results[smallest][0]:
        ratio = percentile(results[largest][0][kind], 0.5) / percentile(
            results[smallest][0][kind], 0.5
        )
        print(f"    {kind:<30}{ratio:>6.2f}")
    print("\n  for contrast, one full reconciliation run (reads every order and payment):")
    for history, (_, seconds) in results.items():
        print(f"    {history:>7,} orders{seconds * 1000:>10.0f} ms")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--histories", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--payments", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(sorted(args.histories), args.payments))


if __name__ == "__main__":
    main()
