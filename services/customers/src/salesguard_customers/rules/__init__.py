"""The customer rules (SPEC §3, C1–C12) as pure functions: facts in, decisions out.

Each rule code is decided in one module here; the orchestration modules (the
registry, the pool, handover, shared contacts) gather the facts with SQL, call
these and persist what comes out. Unit-tested without a database
(``tests/unit/test_customer_rules*.py``).

- :mod:`.registration`: C1 (what a registration must carry), C2 (late registration),
  C4 (a source change needs a reason)
- :mod:`.duplicates`: C3 (duplicate criteria), C12 (shared criteria ignored for blocking)
- :mod:`.ownership`: C6 (reassignment and a leaver's successor)
- :mod:`.contact_reads`: C8 (bulk contact access)
- :mod:`.exports`: C9 (approval by another manager before an export runs, once)
- :mod:`.pool`: C11 (neglect, grace, cooling-off, holding cap)

C5 (follow-ups, :mod:`salesguard_customers.follow_ups`), C7 (the audit chain,
:mod:`salesguard_customers.audit`) and C10 (encryption at rest,
:mod:`salesguard_customers.contacts`) are mechanisms, decided where they run.
"""
