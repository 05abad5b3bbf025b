"""The orders service's tests, over its gRPC API on PostgreSQL, OPA and S3.

Callers are the principals the gateway would resolve for the people of a per-test company
(``make_org``); customers are registered through the gateway, as a rep does.
"""
