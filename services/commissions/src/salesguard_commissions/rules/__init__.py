"""The commission rules (SPEC §3, M1–M5) as pure functions: facts in, findings out.

Each rule code is decided in one module here; the orchestration modules (plans, runs,
commission lines, clawbacks, periods, freezes) gather the facts, call these and persist
what comes out. A run stays set-based where volume needs it: the SQL that applies a
rule is a named fragment in the rule's module, next to the pure function it must agree
with. Unit-tested without a database (``tests/unit/test_commission_rules*.py``).

- :mod:`.rates`: M1 (the plan in force, rates by source class, amounts, caps)
- :mod:`.withholding`: M2 (a line's status: withheld, pending review, payable)
- :mod:`.source_conflict`: M3 (the registered source decides the class)
- :mod:`.clawback`: M4 (a reversal after a locked period claws back in the next)
- :mod:`.locking`: M5 (deterministic line IDs; a locked period never changes)

:mod:`.periods` (the month in a branch's time zone) and :mod:`.vocabulary` (line
kinds, statuses, reasons, totals) are what they all share.
"""
