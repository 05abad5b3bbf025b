"""Descriptions of the arguments many fields share (a connection's ``first`` and ``after``)."""

FIRST = (
    "How many items to return: 20 when omitted, at most 100 (the gateway's "
    "SALESGUARD_DEFAULT_PAGE_SIZE and SALESGUARD_MAX_PAGE_SIZE)."
)
AFTER = "Resume after this cursor (an edge's cursor or pageInfo.endCursor)."
LAST = (
    "Page backwards: how many items just before `before` (or at the end of the list, "
    "without it), answered in the list's order; the same default and limit as first. Not "
    "with first."
)
BEFORE = (
    "Resume before this cursor (an edge's cursor or pageInfo.startCursor), paging "
    "backwards: with last, not with after."
)
