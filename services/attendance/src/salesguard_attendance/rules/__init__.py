"""The attendance rules (SPEC §3, A1–A6) as pure functions: facts in, findings out.

Each rule code is decided in one module; the orchestration modules (directory, plans,
visits, photo evidence, call logs, detectors) gather the facts with SQL, call these and
persist what comes out. Where set-based SQL stays for speed, the rule's predicate is a
named fragment of its module, built over the columns the caller passes. Unit-tested
without a database (``tests/unit/test_attendance_rules*.py``).

- :mod:`.people`: A1 (the people directory and what a leaver hands over)
- :mod:`.plans`: A2 (visit plans)
- :mod:`salesguard_attendance.verification`: A3 (the check-in's reasons and verdict,
  the first module built this way)
- :mod:`salesguard_attendance.photos`: A4 (uploads, whose a photo is, what is read from
  it, reuse)
- :mod:`.streaks`: A5 (photo-less streaks, repeated unregistered sites)
- :mod:`.calls`: A6 (call logs and ``ABNORMAL_CALL_PATTERN``)

The detectors' thresholds are policy data (:mod:`.thresholds`).
"""
