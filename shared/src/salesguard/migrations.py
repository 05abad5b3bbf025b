"""Alembic, shared: each service keeps its revisions, this module runs them.

A service's ``migrations/env.py`` is one call to :func:`run_env`. Migrations run
on start-up (``SALESGUARD_MIGRATE_ON_START``) or as ``salesguard migrate <service>``
(the Helm hook job).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def alembic_config(script_location: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, script_location: Path, revision: str = "head") -> None:
    """Bring the database to ``revision`` over the service's own engine."""
    config = alembic_config(script_location, engine.url.render_as_string(hide_password=False))

    def _run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_run)


async def new_revision(script_location: Path, message: str) -> None:
    """Autogenerate a revision against a scratch SQLite database brought to head.

    Revisions must work on both databases: review what was generated, and keep
    dialect-specific statements (triggers) behind ``op.get_bind().dialect``.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/scratch.db"
        engine = create_async_engine(url)
        config = alembic_config(script_location, url)

        def _run(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            command.revision(config, message=message, autogenerate=True)

        async with engine.begin() as connection:
            await connection.run_sync(_run)
        await engine.dispose()


def _configure(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_env(metadata: MetaData) -> None:
    """The body of every service's alembic env.py."""
    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _configure(connection, metadata)
        return
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return

    import asyncio

    async def _online() -> None:
        url = config.get_main_option("sqlalchemy.url")
        assert url is not None
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as async_connection:
            await async_connection.run_sync(_configure, metadata)
        await engine.dispose()

    asyncio.run(_online())


def create_append_only(table: str) -> None:
    """In a migration: refuse every UPDATE and DELETE of ``table``'s rows, on both databases."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{table} is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )


def drop_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
        return
    for event in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
