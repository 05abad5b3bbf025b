"""The reconciliation stories: following the money over the services' gRPC APIs.

Every story works in a company of its own (``make_org``). Reconciliation and the detectors run
over the whole orders database the suite shares, so a story asserts on its own orders,
payments and alerts, never on the run's global counts alone. Orders dated in the past are
submitted with past order and payment dates, as the API allows.
"""
