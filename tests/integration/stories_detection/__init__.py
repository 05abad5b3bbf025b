"""The detection stories: what the scheduled jobs and the reconciling writes find by
themselves.

Everything a person does goes through the GraphQL gateway; what a scheduler does goes
through the job runner (``run_job``, or the ``salesguard job`` command a CronJob runs),
``as_of`` a given moment. The suite is this module's own (PostgreSQL, OPA, S3; see
``conftest.py``): the jobs run over everything it holds, and the stories here are all it
holds.
"""
