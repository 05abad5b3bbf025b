"""Descriptions of the arguments many fields share (a connection's ``first`` and ``after``)."""

FIRST = (
    "How many items to return: 20 when omitted, at most 100 (the gateway's "
    "SALESGUARD_DEFAULT_PAGE_SIZE and SALESGUARD_MAX_PAGE_SIZE)."
)
AFTER = "Resume after this cursor (an edge's cursor or pageInfo.endCursor)."
