"""The reconciliation statements' text: matching, classification and the alerts, over every
row or over what a write touched, composed from the rule fragments of
:mod:`salesguard_orders.rules.reconciliation`.

The statements are rendered once per scope from one text: the full run's scope is
``1 = 1``, the incremental run's the open payments recorded since a moment, the touched
scope an ``IN`` over a JSON array parameter, so a write costs what
it touched, not what history holds. Customer + amount ranks both sides of each group with
``row_number()`` (the n-th payment takes the n-th order, :func:`.rules.reconciliation.pair_in_group`);
classification keys orders by their number (an integer: cheaper to sort and hash than
the text ID), computes the running sum with a window function and writes the narrow
``order_payment_states`` rows (keyed by that number), never the wide order rows. (An order whose name
key and company key are both payer keys of the same amount sits in two groups; it then
keeps only its earliest payment, the other stays unmatched.)

The statements are the same text on PostgreSQL and SQLite except for a few fragments
(:mod:`salesguard_orders.sqlparts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, Integer, String, TextClause, bindparam, text
from sqlalchemy.types import TypeEngine

from salesguard.alerts import SELECTED_COLUMNS
from salesguard.db import UtcDateTime
from salesguard_orders.rules import reconciliation as rules
from salesguard_orders.sqlparts import SqlDialect


@dataclass(frozen=True)
class Scope:
    """Where the statements look, as SQL predicates."""

    # The payments (the UPDATE's ``payments``) matched by the order they state or quote.
    payments: str
    # The customer + amount groups ranked, over open payments' columns.
    groups: str
    # The orders (``o``) classified.
    orders: str
    # The payments (``p``) checked for a payer mismatch.
    payer_checks: str
    # What the match statements return: the orders they matched, to classify them next.
    returning: str


def full_scope() -> Scope:
    return Scope(
        payments="1 = 1", groups="1 = 1", orders="1 = 1", payer_checks="1 = 1", returning=""
    )


def since_scope() -> Scope:
    """The incremental run's matching: the open payments recorded since ``:since`` and those
    quoting an order submitted since (a write reconciles what it touched, so older open
    payments wait for nothing a write did not already try), the customer + amount groups
    of the former; each match returned."""
    recorded = f"""SELECT t.id FROM payments t
                   WHERE {rules.open_payment_sql("t")} AND t.recorded_at >= :since"""  # noqa: S608
    quoting = f"""SELECT t.id FROM payments t JOIN orders n ON n.number = t.quoted_order_number
                  WHERE {rules.open_payment_sql("t")} AND n.submitted_at >= :since"""  # noqa: S608
    groups = f"""SELECT t.payer_key, t.currency, t.amount_minor FROM payments t
                 WHERE {rules.open_payment_sql("t")} AND t.recorded_at >= :since"""  # noqa: S608
    return Scope(
        payments=f"payments.id IN ({recorded} UNION {quoting})",
        groups=f"(payer_key, currency, amount_minor) IN ({groups})",
        orders="1 = 1",
        payer_checks="1 = 1",
        returning="RETURNING payments.id, payments.order_id",
    )


def touched_scope(d: SqlDialect) -> Scope:
    # Groups of the touched payments still open, and of the touched orders (both keys).
    groups = " UNION ".join(
        [
            f"""SELECT t.payer_key, t.currency, t.amount_minor FROM payments t
                WHERE {d.in_ids("t.id", ":payment_ids")}
                  AND {rules.open_payment_sql("t")}""",  # noqa: S608
            *(
                f"""SELECT t.{key}, t.currency, t.total_minor FROM orders t
                    WHERE {d.in_ids("t.id", ":order_ids")}"""  # noqa: S608 (constant fragments)
                for key in rules.CUSTOMER_KEYS
            ),
        ]
    )
    return Scope(
        payments=d.in_ids("payments.id", ":payment_ids"),
        groups=f"(payer_key, currency, amount_minor) IN ({groups})",
        orders=d.in_ids("o.id", ":order_ids"),
        payer_checks=d.in_ids("p.id", ":payment_ids"),
        returning="RETURNING payments.order_id",
    )


def _match_named(s: Scope, names_the_order: str) -> str:
    """Match the open payments in scope to the order they name (stated or quoted)."""
    return f"""
        UPDATE payments
        SET order_id = o.id, customer_id = o.customer_id, branch_id = o.branch_id,
            order_submitted_by = o.submitted_by, matched_by = '{rules.ORDER_CODE}'
        FROM orders o
        WHERE {rules.open_payment_sql("payments")}
          AND {names_the_order} AND {s.payments}
        {s.returning}
    """  # noqa: S608 (constant fragments, no input)


def _match_customer_amount(s: Scope) -> str:
    keyed_orders = " UNION ".join(
        f"""
            SELECT o.id, o.number, o.customer_id, o.branch_id, o.submitted_by, o.currency,
                   o.total_minor, o.expected_payment_date, o.{key} AS payer_key
            FROM orders o
            WHERE {rules.open_order_sql("o", key)}
              AND (o.{key}, o.currency, o.total_minor) IN
                  (SELECT payer_key, currency, amount_minor FROM open_payments)
        """  # noqa: S608 (constant fragments, no input)
        for key in rules.CUSTOMER_KEYS
    )
    return f"""
        WITH open_payments AS (
            SELECT id, payer_key, currency, amount_minor, paid_at,
                   row_number() OVER (
                       PARTITION BY payer_key, currency, amount_minor ORDER BY paid_at, id
                   ) AS rank
            FROM payments
            WHERE {rules.open_payment_sql("payments")} AND payer_key <> '' AND {s.groups}
        ),
        keyed_orders AS ({keyed_orders}),
        open_orders AS (
            SELECT k.*,
                   row_number() OVER (
                       PARTITION BY k.payer_key, k.currency, k.total_minor
                       ORDER BY k.expected_payment_date, k.number
                   ) AS rank
            FROM keyed_orders k
            WHERE NOT EXISTS (
                SELECT 1 FROM payments m WHERE m.order_id = k.id AND NOT m.reversed
            )
        ),
        -- The n-th payment and the n-th order of a group, paired by grouping both lists
        -- on (group, rank) rather than joining them: the planner cannot count the groups,
        -- and a nested loop over two lists it takes for one row each is quadratic.
        ranked AS (
            SELECT payer_key, currency, amount_minor, rank, id AS payment_id, paid_at,
                   CAST(NULL AS VARCHAR) AS order_id, CAST(NULL AS VARCHAR) AS customer_id,
                   CAST(NULL AS VARCHAR) AS branch_id, CAST(NULL AS VARCHAR) AS submitted_by
            FROM open_payments
            UNION ALL
            SELECT payer_key, currency, total_minor, rank, NULL, NULL, id, customer_id,
                   branch_id, submitted_by
            FROM open_orders
        ),
        paired AS (
            SELECT max(payment_id) AS payment_id, max(paid_at) AS paid_at,
                   max(order_id) AS order_id, max(customer_id) AS customer_id,
                   max(branch_id) AS branch_id, max(submitted_by) AS submitted_by
            FROM ranked
            GROUP BY payer_key, currency, amount_minor, rank
            HAVING count(payment_id) = 1 AND count(order_id) = 1
        ),
        pairs AS (
            SELECT payment_id, order_id, customer_id, branch_id, submitted_by,
                   row_number() OVER (PARTITION BY order_id ORDER BY paid_at, payment_id) AS take
            FROM paired
        )
        UPDATE payments
        SET order_id = pairs.order_id, customer_id = pairs.customer_id,
            branch_id = pairs.branch_id, order_submitted_by = pairs.submitted_by,
            matched_by = '{rules.CUSTOMER_AMOUNT}'
        FROM pairs
        WHERE payments.id = pairs.payment_id AND pairs.take = 1
        {s.returning}
    """  # noqa: S608 (constant fragments, no input)


def _state_rows(s: Scope) -> str:
    """A payment-state row, unpaid, for each classified order in scope without one (an order
    just approved): then every classified order has one, which :func:`_classify` updates."""
    return f"""
        INSERT INTO order_payment_states
            (order_number, payment_state, paid_minor, fully_paid_at, branch_id)
        SELECT o.number, 'UNPAID', 0, NULL, o.branch_id
        FROM orders o
        WHERE {rules.classified_sql("o")} AND {s.orders}
          AND NOT EXISTS (SELECT 1 FROM order_payment_states t WHERE t.order_number = o.number)
    """  # noqa: S608 (constant fragments, no input)


def _classify(d: SqlDialect, s: Scope) -> str:
    """Each classified order's state from its payments, written into its narrow row of
    ``order_payment_states`` (:func:`_state_rows` gave it one) only where it differs: an
    unchanged row is neither written nor locked."""
    return f"""
        WITH matched AS (
            SELECT o.number, o.total_minor, p.amount_minor, p.paid_at,
                   sum(p.amount_minor) OVER (
                       PARTITION BY o.number ORDER BY p.paid_at, p.id ROWS UNBOUNDED PRECEDING
                   ) AS running
            FROM payments p
            JOIN orders o ON o.id = p.order_id
            WHERE {rules.counts_towards_sql("p", "o")}
              AND {s.orders}
        ),
        sums AS (
            SELECT number, max(total_minor) AS total_minor, sum(amount_minor) AS paid,
                   min(CASE WHEN running >= total_minor THEN paid_at END) AS fully_paid_at
            FROM matched
            GROUP BY number
        ),
        target AS (
            SELECT number, total_minor, paid, fully_paid_at FROM sums
            UNION ALL
            -- orders that were paid and are no longer (a reversal, a rematch)
            SELECT o.number, o.total_minor, 0, NULL
            FROM order_payment_states t
            JOIN orders o ON o.number = t.order_number
            WHERE {rules.classified_sql("o")} AND {s.orders}
              AND (t.paid_minor <> 0 OR t.payment_state <> 'UNPAID' OR t.fully_paid_at IS NOT NULL)
              AND t.order_number NOT IN (SELECT number FROM sums)
        ),
        classified AS (
            SELECT number, paid, fully_paid_at,
                   {rules.payment_state_sql("paid", "total_minor")} AS state
            FROM target
        )
        UPDATE order_payment_states
        SET paid_minor = classified.paid, payment_state = classified.state,
            fully_paid_at = classified.fully_paid_at
        FROM classified
        WHERE order_payment_states.order_number = classified.number
          AND (order_payment_states.paid_minor <> classified.paid
               OR order_payment_states.payment_state <> classified.state
               OR order_payment_states.fully_paid_at {d.differs} classified.fully_paid_at)
    """  # noqa: S608 (constant fragments, no input)


# After a full run changed many rows, the statistics the run's later statements plan with:
# the match (open or not, joined to its order; how, for the payer check) and the state
# (the unpaid rows the fake-deal and overdue checks read). Each ANALYZE samples the table
# whatever its columns, but half its cost is the columns' statistics: the match's copies
# of its order's customer, branch and submitter, which no statement of the run reads, are
# left to autovacuum (by then stale statistics only say "few rows": an index lookup, the
# plan their readers want anyway).
MATCH_WRITES = ("order_id", "matched_by")
STATE_WRITES = ("payment_state", "paid_minor", "fully_paid_at")


def match_statements(d: SqlDialect, s: Scope) -> dict[str, str]:
    """Matching, in :data:`.rules.reconciliation.MATCH_PRECEDENCE`, and classification."""
    return {
        "match_stated": _match_named(s, rules.STATED_ORDER_SQL),
        "match_quoted": _match_named(s, rules.QUOTED_CODE_SQL),
        "match_customer_amount": _match_customer_amount(s),
        "state_rows": _state_rows(s),
        "classify": _classify(d, s),
    }


# -- the alerts' rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRows:
    """A SELECT of the alert rows one rule raises: the evidence and the dedupe key over
    ``source`` where ``condition`` holds, and what the alert is about (by default the
    order ``o``: its submitter, customer and branch)."""

    evidence: str
    dedupe_key: str
    source: str
    condition: str
    employee_id: str = "o.submitted_by"
    customer_id: str = "o.customer_id"
    order_id: str = "o.id"
    branch_id: str = "o.branch_id"
    # Where rows share a dedupe key the first inserted is kept: this order makes it the
    # same row on every run (the writer skips the others on conflict).
    order_by: str = ""

    def select(self) -> str:
        """The SELECT the alert writer completes (``salesguard.alerts.raise_alerts_selected``):
        one row per alert, its columns named as the writer's SELECTED_COLUMNS."""
        columns = ", ".join(f"{getattr(self, name)} AS {name}" for name in SELECTED_COLUMNS)
        ordered = f" ORDER BY {self.order_by}" if self.order_by else ""
        return f"SELECT {columns} FROM {self.source} WHERE {self.condition}{ordered}"  # noqa: S608


def _order_rows(d: SqlDialect, kind: str, condition: str, *facts: tuple[str, str]) -> AlertRows:
    """One alert of ``kind`` per order ``o`` with payment state ``ps`` where ``condition``
    holds: its evidence the order's code, total, currency and dates, ``facts`` and the run's
    day. Both checks are about orders not paid at all: they read the unpaid states (their
    partial index), then the orders by number, not history. An order alerted already is
    skipped before its evidence is built (the writer would skip it on its dedupe key
    anyway): a run costs the new suspects."""
    pairs = [
        ("order_code", d.order_code("o.number")),
        ("total", d.money("o.total_minor")),
        ("currency", "o.currency"),
        ("order_date", "o.order_date"),
        ("expected_payment_date", "o.expected_payment_date"),
        *facts,
        ("as_of", ":as_of_text"),
        ("status", "o.status"),
    ]
    dedupe_key = rules.dedupe_key_sql(kind, "o.id")
    arguments = ", ".join(f"'{name}', {value}" for name, value in pairs)
    return AlertRows(
        evidence=f"{d.json_object}({arguments})",
        dedupe_key=dedupe_key,
        source="order_payment_states ps JOIN orders o ON o.number = ps.order_number",
        condition=f"""{condition}
          AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.dedupe_key = {dedupe_key})""",  # noqa: S608 (constant fragments, no input)
    )


def fake_deal_rows(d: SqlDialect) -> AlertRows:
    """FAKE_DEAL_SUSPECTED's rows over every order (the full run's)."""
    return _order_rows(
        d,
        rules.FAKE_DEAL_SUSPECTED,
        rules.fake_deal_sql("o", "ps"),
        ("promised_ship_date", "o.promised_ship_date"),
        ("days_past_due", d.days_between(":as_of", "o.expected_payment_date")),
        ("grace_days", ":grace_days"),
    )


def shipment_overdue_rows(d: SqlDialect) -> AlertRows:
    """SHIPMENT_OVERDUE's rows over every order."""
    approved_on = d.utc_day(rules.approved_at_sql("o"))
    return _order_rows(
        d,
        rules.SHIPMENT_OVERDUE,
        rules.shipment_overdue_sql("o", "ps"),
        ("approved_on", approved_on),
        ("days_since_approval", d.days_between(":as_of", approved_on)),
        ("ship_within_days", ":ship_within_days"),
    )


def payer_mismatch_rows(d: SqlDialect, s: Scope) -> AlertRows:
    """PAYER_MISMATCH's rows over the payments in scope."""
    return AlertRows(
        evidence=f"""{d.json_object}(
                   'payment_id', p.id,
                   'bank_reference', p.bank_reference,
                   'payer_name', p.payer_name,
                   'amount', {d.money("p.amount_minor")},
                   'currency', p.currency,
                   'paid_at', p.paid_at,
                   'order_code', {d.order_code("o.number")},
                   'customer_code', o.customer_code
               )""",
        # One per customer and payer: a parent company paying every invoice of its
        # subsidiary is one question for a manager, not one per payment.
        dedupe_key=rules.dedupe_key_sql(
            rules.PAYER_MISMATCH, "o.customer_id || ':' || p.payer_key"
        ),
        source="payments p JOIN orders o ON o.id = p.order_id",
        condition=f"{rules.payer_mismatch_sql('p', 'o')} AND {s.payer_checks}",
        # Several payments of one customer and payer in a statement: the earliest is the
        # evidence.
        order_by="p.paid_at, p.id",
    )


# -- the run's counts ---------------------------------------------------------------------------

# An order without a payment state is unpaid.
STATE_OF_O = "coalesce(ps.payment_state, 'UNPAID')"
ORDER_COUNTS = f"""
    SELECT {STATE_OF_O}, count(*)
    FROM orders o LEFT JOIN order_payment_states ps ON ps.order_number = o.number
    WHERE {rules.classified_sql("o")} GROUP BY {STATE_OF_O}
"""  # noqa: S608 (constant fragments, no input)
PAYMENT_COUNTS = """
    SELECT count(order_id), count(*) - count(order_id) FROM payments WHERE NOT reversed
"""


# An incremental run's: the orders it matched payments to, by state, and the payments left
# open (their partial index), without reading history.
def matched_order_counts(d: SqlDialect) -> str:
    return f"""
        SELECT {STATE_OF_O}, count(*)
        FROM orders o LEFT JOIN order_payment_states ps ON ps.order_number = o.number
        WHERE {rules.classified_sql("o")} AND {d.in_ids("o.id", ":order_ids")}
        GROUP BY {STATE_OF_O}
    """  # noqa: S608 (constant fragments, no input)


OPEN_PAYMENT_COUNT = f"""
    SELECT count(*) FROM payments t WHERE {rules.open_payment_sql("t")}
"""  # noqa: S608 (constant fragments, no input)


# Every parameter typed: PostgreSQL cannot infer one inside json_build_object(VARIADIC "any").
PARAMETER_TYPES: dict[str, TypeEngine[Any]] = {
    "as_of": Date(),
    "since": UtcDateTime(),
    "cutoff": Date(),
    "grace_days": Integer(),
    "ship_cutoff": UtcDateTime(),
    "ship_within_days": Integer(),
    "as_of_text": String(),
    # Lists of IDs (SqlDialect.id_list): what a write touched.
    "payment_ids": String(),
    "order_ids": String(),
}


def typed(statement: str) -> TextClause:
    """The statement with its parameters typed (a ``::cast`` is no parameter)."""
    names = set(re.findall(r"(?<![:\w]):(\w+)", statement))
    return text(statement).bindparams(
        *(bindparam(name, type_=PARAMETER_TYPES[name]) for name in sorted(names))
    )
