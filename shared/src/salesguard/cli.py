"""``salesguard``: dev tokens, serving and migrating services, and the local suite.

salesguard token EMPLOYEE_ID      a dev JWT for the gateway (dev environment only)
salesguard serve SERVICE          run one service (customers, attendance, gateway, ...)
salesguard migrate SERVICE        bring a service's database to the latest schema
salesguard healthcheck SERVICE    exit 0 when this host's SERVICE serves (image HEALTHCHECK)
                                  (SERVICE may be left out where one is installed: an image)
salesguard job NAME [--as-of T]   run one scheduled job now (e.g. customers.pool-sweep); --list
salesguard run                    the whole suite locally, embedded profile
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

from salesguard.settings import SERVICES_ENTRY_POINTS, Environment, Settings, SettingsError, load
from salesguard.tokens import issue_dev_token


def installed_services() -> dict[str, Any]:
    """Services registered in the ``salesguard.services`` entry-point group."""
    return {entry.name: entry for entry in entry_points(group=SERVICES_ENTRY_POINTS)}


def _service(name: str | None) -> Any:
    services = installed_services()
    if name is None:
        # An image installs one component: it is the one meant.
        if len(services) != 1:
            raise SystemExit(f"name the service, one of: {', '.join(sorted(services))}")
        (name,) = services
    if name not in services:
        raise SystemExit(f"unknown service {name!r}; installed: {', '.join(sorted(services))}")
    return services[name].load()


def _token(args: argparse.Namespace) -> None:
    settings = load(Settings)
    if settings.environment is not Environment.DEV or settings.jwt_secret is None:
        raise SystemExit("dev tokens are only issued in the dev environment with a JWT secret")
    print(
        issue_dev_token(
            settings.jwt_secret.get_secret_value(), args.employee_id, ttl_seconds=args.ttl
        )
    )


def _serve(args: argparse.Namespace) -> None:
    _service(args.service).main()


def _migrate(args: argparse.Namespace) -> None:
    app = _service(args.service)
    asyncio.run(app.migrate(app.load_settings()))
    print(f"{app.name}: database is at the latest revision")


def _healthcheck(args: argparse.Namespace) -> None:
    app = _service(args.service)
    if not asyncio.run(app.healthy(app.load_settings())):
        raise SystemExit(f"{app.name} is not serving")


def _job(args: argparse.Namespace) -> None:
    from salesguard.jobs import JobStatus, run_job

    jobs = {job.name: (app, job) for app in _apps_with_jobs() for job in app.jobs}
    if args.list or not args.name:
        for name, (_, job) in sorted(jobs.items()):
            print(f"{name}\t{job.description}")
        return
    if args.name not in jobs:
        raise SystemExit(f"unknown job {args.name!r}; see salesguard job --list")
    app, job = jobs[args.name]
    as_of = _aware_datetime(args.as_of) if args.as_of else None

    settings = app.load_settings()
    from salesguard.telemetry import setup_telemetry

    # Its spans and its run count (salesguard.jobs.runs) reach the collector, if one is set.
    setup_telemetry(app.name, settings.otel_exporter_otlp_endpoint)

    async def _once() -> int:
        runtime = app.build_runtime(settings)
        try:
            outcome = await run_job(runtime, job, as_of=as_of)
        finally:
            await runtime.close()
        print(json.dumps(outcome.to_json(), ensure_ascii=False), flush=True)
        return 1 if outcome.status is JobStatus.FAILED else 0

    # A skipped run (another runner holds the lock) is not a failure: that run does the work.
    raise SystemExit(asyncio.run(_once()))


def _apps_with_jobs() -> list[Any]:
    """The installed services that declare scheduled jobs (the gateway has none)."""
    apps = (_service(name) for name in sorted(installed_services()))
    return [app for app in apps if getattr(app, "jobs", ())]


def _aware_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"--as-of {text!r} is not an ISO-8601 time") from None
    if value.tzinfo is None:
        raise SystemExit("--as-of needs a UTC offset, e.g. 2026-11-27T00:00:00+00:00")
    return value


def _revision(args: argparse.Namespace) -> None:
    from salesguard.migrations import new_revision

    app = _service(args.service)
    asyncio.run(new_revision(app.migrations_dir, args.message))


def _run(args: argparse.Namespace) -> None:
    from salesguard.devrun import run_suite

    run_suite(args.services)


_ONE_INSTALLED = "default: the one service installed (an image holds one)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="salesguard", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a dev JWT for an employee")
    token.add_argument("employee_id")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    token.set_defaults(handler=_token)
    serve = commands.add_parser("serve", help="run one service")
    serve.add_argument("service", nargs="?", help=_ONE_INSTALLED)
    serve.set_defaults(handler=_serve)
    migrate = commands.add_parser("migrate", help="migrate a service's database")
    migrate.add_argument("service", nargs="?", help=_ONE_INSTALLED)
    migrate.set_defaults(handler=_migrate)
    healthcheck = commands.add_parser(
        "healthcheck", help="exit 0 when this host's service serves (container HEALTHCHECK)"
    )
    healthcheck.add_argument("service", nargs="?", help=_ONE_INSTALLED)
    healthcheck.set_defaults(handler=_healthcheck)
    job = commands.add_parser("job", help="run one scheduled job now (CronJobs call this)")
    job.add_argument("name", nargs="?", help="<service>.<job>, e.g. customers.pool-sweep")
    job.add_argument("--as-of", help="the job's notion of now (ISO-8601 with offset)")
    job.add_argument("--list", action="store_true", help="list the installed services' jobs")
    job.set_defaults(handler=_job)
    revision = commands.add_parser(
        "revision", help="autogenerate a migration for a service (developers)"
    )
    revision.add_argument("service")
    revision.add_argument("-m", "--message", required=True)
    revision.set_defaults(handler=_revision)
    run = commands.add_parser("run", help="run the suite locally (embedded profile)")
    run.add_argument("services", nargs="*", help="default: every installed service and the gateway")
    run.set_defaults(handler=_run)
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except SettingsError as error:
        print(f"salesguard: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
