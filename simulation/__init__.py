"""How well does salesguard catch diversion? A simulated company with injected schemes.

- :mod:`simulation.world` plans a company and its days from a seed: branches in two time
  zones, reps with managers, HR and finance, customers with their ordering rhythm, the
  honest noise of a sales force, and the schemes injected on known reps from a known day.
  Pure and deterministic: the same seed and scale give the same plan.
- :mod:`simulation.drive` plays the plan against the real services (the test harness's
  ``Suite``) through the GraphQL gateway, day after simulated day, and runs the scheduled
  detection jobs ``as_of`` the end of each day. It never raises an alert itself.
- :mod:`simulation.measure` turns the alerts and the risk ranking into recall, days to
  detection, false alerts per 100 rep-months and the ranking's AUC.

``python -m simulation --help`` runs it (``simulation.__main__``).

Why a package of its own, not ``benchmarks/detection``: the benchmarks measure speed on
the full profile as deployed; this measures what the product finds, on either profile,
and a test in ``tests/`` imports it to keep detection from regressing.
"""
