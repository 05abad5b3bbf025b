"""The commissions tests: paid, reconciled orders in the real orders service become commission
lines.

Every test works in the branches of its own company (``make_org``), so tests sharing the
suite's databases never see each other's lines. Orders go the real way: a rep submits, a
manager approves, finance records a payment quoting the order code and runs reconciliation.
Payments are dated in the previous month of the branch (Asia/Shanghai), the test period.
"""
