"""The attack suite: every hole found by attacking salesguard, kept as a test.

Each module attacks one surface as a hostile employee or a careless client would
(every role's token, races, malformed bodies, a schema-driven fuzzer, direct
database writes, killed processes) against the real stack.
"""
