"""people directory change feed (status, roles, team, branch) (issue 11)

Every insert, update or delete of an employee or a branch appends a row to
``directory_changes`` (a trigger, so a change made by any path, even by hand in
the database, is recorded). On PostgreSQL a second trigger notifies
``salesguard_directory`` with the row's subject on commit; SQLite is polled by rowid.
Gateways and services watch it (``WatchDirectoryChanges``) and drop the cached
principal or employee it names.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from salesguard.directory import CHANGES_CHANNEL
from salesguard.feeds import create_notify_trigger, drop_notify_trigger

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The table whose rows are recorded, and the kind their subject names.
RECORDED = {"employees": "employee", "branches": "branch"}
EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "directory_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_directory_changes")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION directory_changes_record() RETURNS trigger AS $$
            BEGIN
                INSERT INTO directory_changes (subject) VALUES (
                    TG_ARGV[0] || ':' || CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END
                );
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table, kind in RECORDED.items():
            op.execute(
                f"CREATE TRIGGER {table}_record_change AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION directory_changes_record('{kind}')"
            )
    else:
        # SQLite: one trigger per event; a deleted row is named by OLD, the others by NEW.
        for table, kind in RECORDED.items():
            for event in EVENTS:
                row = "OLD" if event == "DELETE" else "NEW"
                # The names are this migration's constants.
                record = f"INSERT INTO directory_changes (subject) VALUES ('{kind}:' || {row}.id)"  # noqa: S608
                op.execute(
                    f"CREATE TRIGGER {table}_record_{event.lower()} AFTER {event} ON {table} "
                    f"BEGIN {record}; END"
                )
    create_notify_trigger("directory_changes", channel=CHANGES_CHANNEL, column="subject")


def downgrade() -> None:
    drop_notify_trigger("directory_changes")
    if op.get_bind().dialect.name == "postgresql":
        for table in RECORDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_record_change ON {table}")
        op.execute("DROP FUNCTION IF EXISTS directory_changes_record()")
    else:
        for table in RECORDED:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_record_{event.lower()}")
    op.drop_table("directory_changes")
