"""An employee's timeline inside one service: several kinds of rows in one keyset order.

HR and managers follow one employee's evidence in time order. Each
service serves its own kinds (follow-ups and audit events; check-ins and calls;
orders, approvals, payments and shipments) through one ``ListEmployeeTimeline``
call, decided by one ``timeline.read`` decision whose scopes filter every kind;
the decision refuses the employee's own timeline and one its grants leave to
superiors (:meth:`salesguard.policy.Decision.about`).

The order is newest first by ``(at, kind, id)``, the kind being its enum number,
so items at the same instant keep a stable order. Each kind is one indexed range
scan (employee + time) resuming after the page token, limited to ``size + 1``
rows; the scans are one statement (UNION ALL) that returns the ``size + 1``
nearest the token with their columns, and the token of an item is its triple. A
page thus costs one query, however many kinds are asked for, and its rows reach
the presenters as records of their columns, not ORM instances (issue 16: making
those, and a query a kind, cost more than the SQL).

A service declares only its kinds: where each kind's rows are (:class:`TimelineKind`, in
its :class:`TimelineSources`) and how they are presented (a :class:`Presenter` a kind);
:func:`employee_timeline_servicer` serves them.
"""

from __future__ import annotations

import binascii
from collections import namedtuple
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from google.protobuf.message_factory import GetMessageClass
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    func,
    inspect,
    literal_column,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Mapper
from sqlalchemy.sql.elements import BindParameter

from salesguard import validation
from salesguard.db import Database
from salesguard.errors import InvalidInput
from salesguard.grpc_server import Servicer, service_descriptor
from salesguard.pagination import KeysetPage, cursor_datetime, decode_cursor, encode_cursor
from salesguard.policy import Decision, PolicyClient, ScopeColumns, scope_filter
from salesguard.principal import current_principal
from salesguard.settings import PageLimits, Settings
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.common.v1 import common_pb2

T = TypeVar("T")

TIMELINE_READ = "timeline.read"
# A quarter: long enough for an investigation, short enough that no request scans years.
MAX_RANGE_DAYS = 92
MAX_RANGE = timedelta(days=MAX_RANGE_DAYS)


def time_range(start: Timestamp, end: Timestamp) -> tuple[datetime, datetime]:
    """The half-open range [from, to): both given, in order, at most MAX_RANGE_DAYS long."""
    begins, ends = from_timestamp(start, "from"), from_timestamp(end, "to")
    if begins is None:
        raise InvalidInput("from", "from is required")
    if ends is None:
        raise InvalidInput("to", "to is required")
    check_range(begins, ends)
    return begins, ends


def check_range(begins: datetime, ends: datetime) -> None:
    if ends <= begins:
        raise InvalidInput("to", "to must be later than from")
    if ends - begins > MAX_RANGE:
        raise InvalidInput("to", f"a timeline covers at most {MAX_RANGE_DAYS} days")


@dataclass(frozen=True, slots=True)
class TimelineCursor:
    at: datetime
    kind: int
    id: str


def decode_timeline_cursor(token: str) -> TimelineCursor | None:
    if not token:
        return None
    at, kind, item_id = decode_cursor(token, 3)
    if not isinstance(kind, int) or isinstance(kind, bool) or not isinstance(item_id, str):
        raise InvalidInput("page.page_token", "the page token is malformed")
    return TimelineCursor(cursor_datetime(at), kind, item_id)


Column = ColumnElement[Any] | InstrumentedAttribute[Any]


@dataclass(frozen=True)
class TimelineQuery:
    """A validated request: whose timeline, when, which kinds, from where, how many."""

    decision: Decision
    employee_id: str
    begins: datetime
    ends: datetime
    kinds: frozenset[int]
    cursor: TimelineCursor | None
    size: int
    page: common_pb2.PageRequest

    def source(
        self,
        kind: int,
        statement: Select[Any],
        *,
        employee: Column,
        at: Column,
        id: Column,
        scope: ScopeColumns,
    ) -> TimelineSource:
        """One kind's rows: the employee's (by ``employee``), ``at`` in range, in scope."""
        flat, layout = _flattened(statement)
        return TimelineSource(
            kind,
            flat.where(
                employee == _EMPLOYEE,
                at >= _BEGINS,
                at < _ENDS,
                scope_filter(self.decision, scope),
            ),
            at,
            id,
            layout,
        )

    def values(self) -> dict[str, Any]:
        """The values of a page statement's parameters (see :class:`TimelineSource`)."""
        values: dict[str, Any] = {
            _EMPLOYEE.key: self.employee_id,
            _BEGINS.key: self.begins,
            _ENDS.key: self.ends,
        }
        if self.cursor is not None:
            values[_CURSOR_AT.key] = self.cursor.at
            values[_CURSOR_ID.key] = self.cursor.id
        return values


async def timeline_query(
    policy: PolicyClient,
    *,
    employee_id: str,
    start: Timestamp,
    end: Timestamp,
    kinds: Iterable[int],
    known_kinds: Collection[int],
    page: common_pb2.PageRequest,
    pages: PageLimits,
) -> TimelineQuery:
    """Validate a ListEmployeeTimeline request and take its one policy decision."""
    employee = validation.directory_id("employee_id", employee_id, required=True)
    begins, ends = time_range(start, end)
    asked = frozenset(kinds)
    unknown = sorted(asked - frozenset(known_kinds))
    if unknown:
        raise InvalidInput("kinds", f"kinds has unknown or unspecified values ({unknown})")
    requested = validation.page_size("page.page_size", page.page_size, pages)
    cursor = decode_timeline_cursor(page.page_token)
    decision = (await policy.decide(current_principal(), TIMELINE_READ)).require(TIMELINE_READ)
    # Every row is about the employee: nobody reads their own timeline, and one the
    # grants leave to superiors (a manager's) is refused rather than shown empty.
    decision = decision.about(employee)
    return TimelineQuery(
        decision=decision,
        employee_id=employee,
        begins=begins,
        ends=ends,
        kinds=asked or frozenset(known_kinds),
        cursor=cursor,
        size=decision.page_size(requested),
        page=page,
    )


# A page statement's parameters: its values are given when it runs (TimelineQuery.values),
# so one statement serves every request of its shape.
_EMPLOYEE: BindParameter[Any] = bindparam("timeline_employee")
_BEGINS: BindParameter[Any] = bindparam("timeline_begins")
_ENDS: BindParameter[Any] = bindparam("timeline_ends")
_CURSOR_AT: BindParameter[Any] = bindparam("timeline_cursor_at")
_CURSOR_ID: BindParameter[Any] = bindparam("timeline_cursor_id")
# What a kind keeps (each list cleared when full): the sources of this many scopes (the
# grants of callers: everyone, a branch, a team, ...), and of each this many page
# statements (cursor side, direction, page size): at most 2,048 statements a kind. And the
# page statements of a service's kinds together (fetch_timeline): this many.
MAX_SCOPES = 64
MAX_SHAPES = 32
MAX_PAGES = 256

# How a kind's statement's columns become the row its presenter gets: per selected
# entity or column, the type of record made of its values (None: the value itself) and how
# many columns it takes.
Layout = tuple[tuple[type | None, int], ...]
# A row as a presenter gets it: one value per entity or column its kind's statement
# selects, an entity as a record of its columns' values (:func:`_record_type`).
PresentedRow = Sequence[Any]
_RECORD_TYPES: dict[type, type] = {}


def _record_type(mapper: Mapper[Any]) -> type:
    """A mapped class's row as the timeline reads it: a named tuple of its columns' values,
    by attribute name, with the class's own properties (an order's ``code``); what the
    ORM would load, without an ORM instance (their making cost more than the query)."""
    mapped = mapper.class_
    record = _RECORD_TYPES.get(mapped)
    if record is None:
        keys = [prop.key for prop in mapper.column_attrs]
        properties = {
            name: value
            for klass in reversed(mapped.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, property) and name not in keys
        }
        columns = namedtuple(f"{mapped.__name__}Columns", keys)  # type: ignore[misc]
        record = _RECORD_TYPES[mapped] = type(
            f"{mapped.__name__}Record", (columns,), {"__slots__": (), **properties}
        )
    return record


def _flattened(statement: Select[Any]) -> tuple[Select[Any], Layout]:
    """``statement`` selecting the columns of its entities (plain rows, no ORM instances),
    and how they become the presented row."""
    columns: list[Any] = []
    layout: list[tuple[type | None, int]] = []
    for description in statement.column_descriptions:
        expression = description["expr"]
        mapper = inspect(expression, raiseerr=False) if isinstance(expression, type) else None
        if isinstance(mapper, Mapper):
            attributes = [getattr(mapper.class_, prop.key) for prop in mapper.column_attrs]
            layout.append((_record_type(mapper), len(attributes)))
            columns.extend(attributes)
        else:
            layout.append((None, 1))
            columns.append(expression)
    return statement.with_only_columns(*columns), tuple(layout)


@dataclass(frozen=True, eq=False)
class TimelineSource:
    """One kind: its rows of the employee in range and scope (unordered), its time and ID.

    ``query`` takes the employee and the range as parameters (TimelineQuery.values), so the
    page statements built from it (page_statement) are built once for each scope and shape
    and kept in ``pages``: building and keying a statement costs more than running it."""

    kind: int
    query: Select[Any]
    at: Column
    id: Column
    layout: Layout = ()
    pages: dict[tuple[Any, ...], Select[Any]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def after(self, cursor: TimelineCursor) -> ColumnElement[bool]:
        """Rows of this kind that come after the cursor, newest first by (at, kind, id)."""
        if self.kind < cursor.kind:
            return self.at <= _CURSOR_AT
        if self.kind > cursor.kind:
            return self.at < _CURSOR_AT
        return or_(self.at < _CURSOR_AT, and_(self.at == _CURSOR_AT, self.id < _CURSOR_ID))

    def before(self, cursor: TimelineCursor, *, inclusive: bool) -> ColumnElement[bool]:
        """Rows of this kind that come before the cursor (newer), and the cursor's own row
        when ``inclusive``."""
        if self.kind > cursor.kind:
            return self.at >= _CURSOR_AT
        if self.kind < cursor.kind:
            return self.at > _CURSOR_AT
        same = self.id >= _CURSOR_ID if inclusive else self.id > _CURSOR_ID
        return or_(self.at > _CURSOR_AT, and_(self.at == _CURSOR_AT, same))


@dataclass(frozen=True)
class TimelineRow:
    """A row of one kind as its presenter gets it (``row[0]`` is usually the entity)."""

    at: datetime
    kind: int
    id: str
    row: PresentedRow


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def write_cursor(*values: Any) -> str:
    """:func:`salesguard.pagination.encode_cursor`'s token, the same characters, written
    directly when its values are times, ints and plain IDs (letters and digits): a page
    writes one per row (issue 16: a timeline page asks six sources for a page each)."""
    parts = []
    for value in values:
        if isinstance(value, datetime):
            parts.append(f'"{value.isoformat()}"')
        elif type(value) is int:
            parts.append(str(value))
        elif type(value) is str and value.isascii() and value.isalnum():
            parts.append(f'"{value}"')
        else:
            return encode_cursor(*values)
    raw = f"[{','.join(parts)}]".encode()
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).decode().rstrip("=")


def cursor_page(
    rows: Sequence[T], size: int, sort_key: Callable[[T], tuple[Any, ...]], *, backward: bool
) -> KeysetPage[T]:
    """:func:`salesguard.pagination.keyset_page`, each cursor written by
    :func:`write_cursor`."""
    page = list(rows[:size])
    if backward:
        page.reverse()
    return KeysetPage(page, [write_cursor(*sort_key(row)) for row in page], len(rows) > size)


def page_statement(query: TimelineQuery, source: TimelineSource) -> Select[Any]:
    """The query of one kind for a page, its values bound (as EXPLAIN wants it)."""
    return _page_statement(query, source).params(query.values())


def timeline_statement(query: TimelineQuery, sources: Sequence[TimelineSource]) -> Select[Any]:
    """The one statement of a page over the sources the query asks for (what
    :func:`fetch_timeline` runs), its values bound (as EXPLAIN wants it)."""
    asked = [source for source in sources if source.kind in query.kinds]
    return _page(query, asked).statement.params(query.values())


def _literal(limit: int) -> ColumnElement[int]:
    """A LIMIT written into the statement, not a parameter: each page size is a statement
    of its own anyway (its shape), so PostgreSQL's kept (generic) plan is made for the
    LIMIT it runs with. (Alone this did not stop that plan sorting the whole window: the
    bound in _new_page_statement does.)"""
    return literal_column(str(int(limit)), Integer)


def _shape(query: TimelineQuery, source: TimelineSource) -> tuple[Any, ...]:
    backward = query.page.backward
    cursor = query.cursor
    return (
        None if cursor is None else (source.kind > cursor.kind) - (source.kind < cursor.kind),
        backward,
        backward and query.page.include_token_item,
        query.size,
    )


def _page_statement(query: TimelineQuery, source: TimelineSource) -> Select[Any]:
    """The query of one kind for a page, its values left to TimelineQuery.values: its next
    ``size + 1`` rows after the cursor (before it, nearest first, for a backward page).
    Built once for each shape."""
    shape = _shape(query, source)
    statement = source.pages.get(shape)
    if statement is None:
        if len(source.pages) >= MAX_SHAPES:
            source.pages.clear()
        statement = source.pages[shape] = _new_page_statement(query, source)
    return statement


def _new_page_statement(query: TimelineQuery, source: TimelineSource) -> Select[Any]:
    backward = query.page.backward
    conditions: list[ColumnElement[bool]] = []
    if query.cursor is not None:
        conditions.append(
            source.before(query.cursor, inclusive=query.page.include_token_item)
            if backward
            else source.after(query.cursor)
        )
    # The instant of the kind's ``size + 1``-th row from the cursor, read in the order of
    # its (employee, time) index alone (no sort: the scan stops there), bounds the page's
    # rows: those at it or nearer, all that can be on the page, ties included. PostgreSQL
    # keeps a prepared statement's generic plan after five runs, and one planned without
    # the employee's row count sorts every row of their window to find the page (orders'
    # page: 5 ms of its CPU, not 1); with the bound it sorts about a page.
    bound = (
        source.query.with_only_columns(source.at)
        .where(*conditions)
        .order_by(source.at.asc() if backward else source.at.desc())
        .offset(_literal(query.size))
        .limit(_literal(1))
        .correlate(None)
        .scalar_subquery()
    )
    # Fewer rows than that: the range's end bounds nothing more.
    conditions.append(
        source.at <= func.coalesce(bound, type_coerce(_ENDS, bound.type))
        if backward
        else source.at >= func.coalesce(bound, type_coerce(_BEGINS, bound.type))
    )
    statement = source.query.add_columns(
        source.at.label("timeline_at"), source.id.label("timeline_id")
    ).where(*conditions)
    order = (source.at.asc(), source.id.asc()) if backward else (source.at.desc(), source.id.desc())
    return statement.order_by(*order).limit(_literal(query.size + 1))


@dataclass(frozen=True)
class _Page:
    """The page statements of several kinds as one: each kind's next ``size + 1`` rows
    (its page statement), of which the ``size + 1`` nearest the cursor. A row is the kind's
    source (its index in ``sources``), kind, time and ID, then a slot for every column of
    every kind, the others' null; ``pieces``: per source, where each entity or column of
    its presented row is."""

    sources: tuple[TimelineSource, ...]
    statement: Select[Any]
    pieces: tuple[tuple[tuple[type | None, int, int], ...], ...]

    def presented(self, row: Row[Any]) -> PresentedRow:
        return tuple(
            row[begin] if record is None else record._make(row[begin:end])
            for record, begin, end in self.pieces[row[0]]
        )


_PAGES: dict[tuple[Any, ...], _Page] = {}


def _page(query: TimelineQuery, sources: Sequence[TimelineSource]) -> _Page:
    key = (*(id(source) for source in sources), *(_shape(query, source) for source in sources))
    page = _PAGES.get(key)
    if page is None or page.sources != tuple(sources):
        if len(_PAGES) >= MAX_PAGES:
            _PAGES.clear()
        page = _PAGES[key] = _new_page(query, tuple(sources))
    return page


def _new_page(query: TimelineQuery, sources: tuple[TimelineSource, ...]) -> _Page:
    pages = [
        _page_statement(query, source).subquery(f"timeline_{index}")
        for index, source in enumerate(sources)
    ]
    widths = [sum(width for _, width in source.layout) for source in sources]
    # Each kind's columns, in its slots (their types: the others' nulls are cast alike).
    slots = [list(page.c)[:width] for page, width in zip(pages, widths, strict=True)]
    branches = []
    for index, (source, page) in enumerate(zip(sources, pages, strict=True)):
        columns: list[Any] = [
            literal_column(str(index)).label("timeline_source"),
            literal_column(str(source.kind)).label("timeline_kind"),
            page.c.timeline_at,
            page.c.timeline_id,
        ]
        for owner, owned in enumerate(slots):
            columns.extend(
                (column if owner == index else sql_cast(null(), column.type)).label(
                    f"timeline_{owner}_{number}"
                )
                for number, column in enumerate(owned)
            )
        branches.append(select(*columns))
    merged = union_all(*branches).subquery("timeline")
    if query.page.backward:
        order = (
            merged.c.timeline_at.asc(),
            merged.c.timeline_kind.asc(),
            merged.c.timeline_id.asc(),
        )
    else:
        order = (
            merged.c.timeline_at.desc(),
            merged.c.timeline_kind.desc(),
            merged.c.timeline_id.desc(),
        )
    statement = select(merged).order_by(*order).limit(_literal(query.size + 1))
    pieces = []
    begin = 4
    for source, width in zip(sources, widths, strict=True):
        position = begin
        piece = []
        for record, taken in source.layout:
            piece.append((record, position, position + taken))
            position += taken
        pieces.append(tuple(piece))
        begin += width
    return _Page(sources, statement, tuple(pieces))


async def fetch_timeline(
    session: AsyncSession, query: TimelineQuery, sources: Sequence[TimelineSource]
) -> tuple[KeysetPage[TimelineRow], int | None]:
    """One page over the sources asked for, and their total when the caller asked for it.

    One statement reads every kind asked for: each kind's next ``size + 1`` rows (one
    indexed range scan each), of which it returns only the ``size + 1`` nearest the cursor,
    with their columns (no ORM instances). A page thus costs one query, however many kinds,
    and reads no row of a kind beyond what the page shows."""
    size = query.size
    backward = query.page.backward

    def nearest_first(item: TimelineRow) -> tuple[datetime, int, str]:
        return (item.at, item.kind, item.id)

    asked = [source for source in sources if source.kind in query.kinds]
    rows: list[TimelineRow] = []
    if asked:
        page = _page(query, asked)
        for row in await session.execute(page.statement, query.values()):
            rows.append(TimelineRow(row[2], row[1], str(row[3]), page.presented(row)))
    total = 0
    if query.page.include_total_count:
        for source in asked:
            counted = select(func.count()).select_from(source.query.subquery())
            total += int(await session.scalar(counted, query.values()) or 0)
    # Nearest the cursor first: newest first, or oldest first for a backward page.
    rows.sort(key=nearest_first, reverse=not backward)
    keyset = cursor_page(rows, size, nearest_first, backward=backward)
    return keyset, total if query.page.include_total_count else None


@dataclass(frozen=True)
class TimelineKind:
    """Where one kind's rows are: ``statement`` (``row[0]`` usually the entity) about the
    employee in ``employee``, at ``at``, in scope by ``scope``; each row identified by
    ``id``, by default the ``id`` of the statement's first entity."""

    kind: int
    statement: Select[Any]
    employee: Column
    at: Column
    scope: ScopeColumns
    id: Column | None = None
    # The source of each scope (the decision's grants) asked for, kept with its statements.
    scoped: dict[Any, TimelineSource] = field(default_factory=dict, compare=False, repr=False)

    def source(self, query: TimelineQuery) -> TimelineSource:
        """This kind's rows for the query: the employee's, in its range and scope (the same
        source for every query of the same grants: the query's values are parameters)."""
        grants = query.decision.grants
        source = self.scoped.get(grants)
        if source is None:
            if len(self.scoped) >= MAX_SCOPES:
                self.scoped.clear()
            entity = self.statement.column_descriptions[0]["entity"]
            row_id = self.id if self.id is not None else cast(Column, entity.id)
            source = self.scoped[grants] = query.source(
                self.kind,
                self.statement,
                employee=self.employee,
                at=self.at,
                id=row_id,
                scope=self.scope,
            )
        return source


class ScopingRow:
    """The row a kind's rows are in scope by (a payment's order, a follow-up's customer),
    read with each of them: ``key`` (the scoping table's key) equal to ``reference``.

    On PostgreSQL (``lateral``) a one-row LATERAL subquery by that key, not a join: joined,
    a manager's page was planned as every scoping row of their branch hashed against the
    employee's rows in the window, then sorted (the planner cannot know an employee's rows
    are in their branch). A subquery with a LIMIT is not flattened into a join, so the page
    reads the employee's rows newest first by their (employee, time) index, looks up each
    one's scoping row, and stops after a page (a manager's payments at 0.58M rows 7.7 ->
    0.45 ms; follow-ups at 1.55M rows 16.5 -> 0.75 ms). Scalar subqueries instead were
    misestimated the other way (the planner sorted all the window's rows). SQLite, which
    has no LATERAL, joins.

    ``scope``: the kind's scope columns, those of the scoping table read through it;
    ``columns``: more of its columns the kind selects (:meth:`column`)."""

    def __init__(
        self,
        key: InstrumentedAttribute[Any],
        reference: Column,
        scope: ScopeColumns,
        *,
        lateral: bool,
        name: str,
        columns: Sequence[InstrumentedAttribute[Any]] = (),
    ) -> None:
        self._key = key
        self._reference = reference
        table = key.class_
        read = [
            column
            for column in (scope.owner, scope.team, scope.branch)
            if column is not None and column.class_ is table
        ]
        self._subquery = (
            select(*dict.fromkeys([*read, *columns]))
            .where(key == reference)
            .limit(_literal(1))
            .lateral(name)
            if lateral
            else None
        )
        self.scope = ScopeColumns(
            owner=self._through(scope.owner),
            team=self._through(scope.team),
            branch=self._through(scope.branch),
            subject=scope.subject,
            kind=scope.kind,
        )

    def _through(
        self, column: InstrumentedAttribute[Any] | None
    ) -> InstrumentedAttribute[Any] | None:
        if column is None or self._subquery is None or column.class_ is not self._key.class_:
            return column
        # ScopeColumns names mapped attributes; a subquery's columns filter alike.
        through: Any = self._subquery.c[column.key]
        return cast(InstrumentedAttribute[Any], through)

    def column(self, column: InstrumentedAttribute[Any]) -> Column:
        """One of the scoping table's columns, as the kind's statement reads it."""
        through = self._through(column)
        return column if through is None else through

    def join(self, statement: Select[Any]) -> Select[Any]:
        """``statement`` with each row's scoping row."""
        if self._subquery is None:
            return statement.join(self._key.class_, self._key == self._reference)
        return statement.join(self._subquery, true())


class TimelineSources:
    """A service's kinds, each declared once (a kind may be declared twice: rows of two
    statements), and called with a query: the sources of its page."""

    def __init__(self, *declared: TimelineKind) -> None:
        self.declared = declared
        self.kinds = tuple(dict.fromkeys(kind.kind for kind in declared))

    def __call__(self, query: TimelineQuery) -> list[TimelineSource]:
        return [kind.source(query) for kind in self.declared]


class TimelineRequest(Protocol):
    """The fields every service's ListEmployeeTimelineRequest has (``from`` is read by name)."""

    @property
    def employee_id(self) -> str: ...
    @property
    def to(self) -> Timestamp: ...
    @property
    def kinds(self) -> Iterable[int]: ...
    @property
    def page(self) -> common_pb2.PageRequest: ...


@dataclass(frozen=True)
class Presenter:
    """How the rows of one kind become items: the messages of a page's rows of that kind,
    in order, for the item's ``field``. All rows of the kind at once, inside the read
    session, so a presenter may load what they need in one query; the request is there for
    what it asks of the presentation (attendance's photo URLs)."""

    field: str
    present: Callable[[AsyncSession, Sequence[PresentedRow], Any], Awaitable[Sequence[Any]]]


def each(field: str, to_proto: Callable[[Any], Any]) -> Presenter:
    """A kind whose items are its entities (``row[0]``) each presented on its own."""

    async def present(
        session: AsyncSession, rows: Sequence[PresentedRow], request: Any
    ) -> list[Any]:
        return [to_proto(row[0]) for row in rows]

    return Presenter(field, present)


class TimelineHome(Protocol):
    """Where a service's timeline reads, who decides, and its page limits (a runtime, or a
    domain object holding the same)."""

    @property
    def db(self) -> Database: ...
    @property
    def policy(self) -> PolicyClient: ...
    @property
    def settings(self) -> Settings: ...


@dataclass(frozen=True)
class EmployeeTimeline:
    """One service's timeline: where it reads, who decides, its kinds and how each kind is
    presented as an item of its ``response`` (one message field a kind, ``at`` set on
    every item)."""

    db: Database
    policy: PolicyClient
    pages: PageLimits
    sources: TimelineSources
    presenters: Mapping[int, Presenter]
    response: Callable[..., Any]

    def __post_init__(self) -> None:
        if set(self.presenters) != set(self.sources.kinds):
            raise ValueError("every kind of the timeline needs one presenter")

    async def serve(self, request: TimelineRequest) -> Any:
        """Serve ListEmployeeTimeline: validate and decide, fetch a page, present its rows."""
        query = await timeline_query(
            self.policy,
            employee_id=request.employee_id,
            start=getattr(request, "from"),
            end=request.to,
            kinds=request.kinds,
            known_kinds=self.sources.kinds,
            page=request.page,
            pages=self.pages,
        )
        # Plain SELECTs, each on its own (no BEGIN and ROLLBACK round trips): the page's one
        # statement, and what a presenter reads for its rows.
        async with self.db.statements() as connection:
            session = AsyncSession(bind=connection)
            try:
                page, total = await fetch_timeline(session, query, self.sources(query))
                response = self.response(cursors=page.cursors, page_info=page.page_info(total))
                await self._present(session, page.rows, request, response)
            finally:
                await session.close()
        return response

    async def _present(
        self,
        session: AsyncSession,
        rows: Sequence[TimelineRow],
        request: TimelineRequest,
        response: Any,
    ) -> None:
        """The rows as the response's items, each kind's by its presenter (each message
        copied once, into its item)."""
        of_kind: dict[int, list[PresentedRow]] = {}
        for entry in rows:
            of_kind.setdefault(entry.kind, []).append(entry.row)
        presented = {
            kind: iter(await self.presenters[kind].present(session, kind_rows, request))
            for kind, kind_rows in of_kind.items()
        }
        add = response.items.add
        for entry in rows:
            item = add(at=to_timestamp(entry.at))
            getattr(item, self.presenters[entry.kind].field).CopyFrom(next(presented[entry.kind]))


def employee_timeline_servicer(
    base: type[Any],
    home: TimelineHome,
    sources: TimelineSources,
    presenters: Mapping[int, Presenter],
) -> Servicer:
    """The servicer of a service's timeline (``base``: its generated
    ``XTimelineServiceServicer``), answering ListEmployeeTimeline with the service's own
    response and item messages."""
    method = service_descriptor(base).methods_by_name["ListEmployeeTimeline"]
    response = GetMessageClass(method.output_type)
    pages = home.settings.page_limits
    timeline = EmployeeTimeline(home.db, home.policy, pages, sources, presenters, response)
    return Servicer.answering(base, ListEmployeeTimeline=timeline.serve)
