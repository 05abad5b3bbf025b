"""The order rules (SPEC §3, O1–O6) as pure functions: facts in, decisions out.

Each rule code is decided in one module here; the orchestration modules (ordering,
payments, statements, matching, diversion) gather the facts, call these and persist
what comes out. Where volume needs set-based SQL (reconciliation, diversion risk), a
rule's predicate is a named SQL fragment beside its pure twin in the same module, and
the statement builders compose those fragments. Unit-tested without a database
(``tests/unit/test_orders_rules*.py``).

- :mod:`.orders`: O1 (the status machine, order and payment dates)
- :mod:`.approvals`: O2 (the approval chain, whose turn it is, what a decision does,
  ``APPROVAL_DESPITE_WARNING``)
- :mod:`.attribution`: O3 (``ATTRIBUTION_MISMATCH``, ``UNREGISTERED_CUSTOMER``)
- :mod:`.source_claim`: the ``SOURCE_CONFLICT`` alert at submission (a personal-channel
  claim on a company-channel customer; the rate itself is the commissions service's)
- :mod:`.payments`: O4 (order codes quoted by remittances, one payment per bank
  reference, reversals, shipments)
- :mod:`.reconciliation`: O5 (matching precedence, payment states, valid orders,
  ``FAKE_DEAL_SUSPECTED``, ``SHIPMENT_OVERDUE``, ``PAYER_MISMATCH``)
- :mod:`.diversion`: O6 (``DIVERSION_RISK``)
"""
