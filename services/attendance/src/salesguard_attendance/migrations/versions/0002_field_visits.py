"""visit plans, check-ins, photos, devices, call logs, branch overrides

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:33:35.392563
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import salesguard.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_logs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("number_index", sa.String(length=64), nullable=False),
        sa.Column("number_masked", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("started_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("customer_owner_id", sa.String(length=64), nullable=True),
        sa.Column("imported_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_logs")),
        sa.UniqueConstraint(
            "employee_id",
            "number_index",
            "started_at",
            "direction",
            name=op.f("uq_call_logs_employee_id_number_index_started_at_direction"),
        ),
    )
    with op.batch_alter_table("call_logs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_call_logs_employee_number",
            ["employee_id", "number_index", "started_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_call_logs_employee_started", ["employee_id", "started_at"], unique=False
        )

    op.create_table(
        "check_ins",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("visit_plan_id", sa.String(length=32), nullable=True),
        sa.Column("at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("geohash", sa.String(length=12), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("mock_location", sa.Boolean(), nullable=False),
        sa.Column("has_photo", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("reason_codes", sa.String(length=400), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("checked_out_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("check_out_lat", sa.Float(), nullable=True),
        sa.Column("check_out_lng", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_ins")),
    )
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.create_index("ix_check_ins_at", ["at", "id"], unique=False)
        batch_op.create_index("ix_check_ins_branch_at", ["branch_id", "at"], unique=False)
        batch_op.create_index("ix_check_ins_employee_at", ["employee_id", "at"], unique=False)
        batch_op.create_index(
            "ix_check_ins_employee_day", ["employee_id", "local_day"], unique=False
        )
        batch_op.create_index(
            "ix_check_ins_employee_geohash", ["employee_id", "geohash"], unique=False
        )
        batch_op.create_index("ix_check_ins_team_at", ["team_id", "at"], unique=False)

    op.create_table(
        "employee_devices",
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("first_seen_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", "device_id", name=op.f("pk_employee_devices")),
    )
    op.create_table(
        "photo_uploads",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_photo_uploads")),
    )
    with op.batch_alter_table("photo_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_photo_uploads_employee_id"), ["employee_id"], unique=False
        )

    op.create_table(
        "visit_plans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("window_start", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("window_end", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_plans")),
    )
    with op.batch_alter_table("visit_plans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_visit_plans_employee_start", ["employee_id", "window_start"], unique=False
        )

    op.create_table(
        "check_in_photos",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("check_in_id", sa.String(length=32), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("version_id", sa.String(length=128), nullable=True),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("perceptual_hash", sa.BigInteger(), nullable=False),
        sa.Column("band_0", sa.Integer(), nullable=False),
        sa.Column("band_1", sa.Integer(), nullable=False),
        sa.Column("band_2", sa.Integer(), nullable=False),
        sa.Column("band_3", sa.Integer(), nullable=False),
        sa.Column("taken_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("exif_lat", sa.Float(), nullable=True),
        sa.Column("exif_lng", sa.Float(), nullable=True),
        sa.Column("recorded_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_in_id"], ["check_ins.id"], name=op.f("fk_check_in_photos_check_in_id_check_ins")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_in_photos")),
    )
    with op.batch_alter_table("check_in_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_check_in_photos_band_0"), ["band_0"], unique=False)
        batch_op.create_index(batch_op.f("ix_check_in_photos_band_1"), ["band_1"], unique=False)
        batch_op.create_index(batch_op.f("ix_check_in_photos_band_2"), ["band_2"], unique=False)
        batch_op.create_index(batch_op.f("ix_check_in_photos_band_3"), ["band_3"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_check_in_photos_check_in_id"), ["check_in_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_check_in_photos_sha256"), ["sha256"], unique=False)

    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("geofence_radius_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("min_visit_minutes", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.drop_column("min_visit_minutes")
        batch_op.drop_column("geofence_radius_m")

    with op.batch_alter_table("check_in_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_in_photos_sha256"))
        batch_op.drop_index(batch_op.f("ix_check_in_photos_check_in_id"))
        batch_op.drop_index(batch_op.f("ix_check_in_photos_band_3"))
        batch_op.drop_index(batch_op.f("ix_check_in_photos_band_2"))
        batch_op.drop_index(batch_op.f("ix_check_in_photos_band_1"))
        batch_op.drop_index(batch_op.f("ix_check_in_photos_band_0"))

    op.drop_table("check_in_photos")
    with op.batch_alter_table("visit_plans", schema=None) as batch_op:
        batch_op.drop_index("ix_visit_plans_employee_start")

    op.drop_table("visit_plans")
    with op.batch_alter_table("photo_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_photo_uploads_employee_id"))

    op.drop_table("photo_uploads")
    op.drop_table("employee_devices")
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.drop_index("ix_check_ins_team_at")
        batch_op.drop_index("ix_check_ins_employee_geohash")
        batch_op.drop_index("ix_check_ins_employee_day")
        batch_op.drop_index("ix_check_ins_employee_at")
        batch_op.drop_index("ix_check_ins_branch_at")
        batch_op.drop_index("ix_check_ins_at")

    op.drop_table("check_ins")
    with op.batch_alter_table("call_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_call_logs_employee_started")
        batch_op.drop_index("ix_call_logs_employee_number")

    op.drop_table("call_logs")
