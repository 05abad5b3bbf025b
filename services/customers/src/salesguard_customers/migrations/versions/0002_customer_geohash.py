"""geohash of customer locations, for nearby lookups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:19:08.333435
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from salesguard import geo

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows read and updated per statement while backfilling.
BATCH_SIZE = 5000

# Only the columns the backfill touches, as they are at this revision.
customers = sa.table(
    "customers",
    sa.column("number", sa.BigInteger()),
    sa.column("lat", sa.Float()),
    sa.column("lng", sa.Float()),
    sa.column("geohash", sa.String(length=12)),
)


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("geohash", sa.String(length=12), nullable=True))

    _backfill_geohashes()

    # Indexed after the backfill: one index build instead of one update per row.
    # lat and lng ride along so the box around a circle is checked in the index.
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("ix_customers_geohash", ["geohash", "lat", "lng"], unique=False)


# The geohash of every customer that already has a location, computed in Python
# (neither database has a geohash function) in batches walked by primary key.
def _backfill_geohashes() -> None:
    connection = op.get_bind()
    located = sa.and_(customers.c.lat.is_not(None), customers.c.lng.is_not(None))
    set_geohash = (
        sa.update(customers)
        .where(customers.c.number == sa.bindparam("row_number"))
        .values(geohash=sa.bindparam("row_geohash"))
    )
    last_number = 0
    while True:
        rows = connection.execute(
            sa.select(customers.c.number, customers.c.lat, customers.c.lng)
            .where(located, customers.c.number > last_number)
            .order_by(customers.c.number)
            .limit(BATCH_SIZE)
        ).all()
        if not rows:
            return
        connection.execute(
            set_geohash,
            [
                {
                    "row_number": number,
                    "row_geohash": geo.encode(lat, lng, geo.STORED_PRECISION),
                }
                for number, lat, lng in rows
            ],
        )
        last_number = rows[-1].number


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_geohash")
        batch_op.drop_column("geohash")
