"""Run the detection simulation on the embedded profile and print its table.

    uv run --frozen python -m simulation [--profile embedded|full] [--seed 17] [--reps-per-branch 10]
        [--customers-per-rep 5] [--days 70] [--warmup-days 35] [--schemers-per-scheme 1]
        [--visits-per-day 2]

The embedded profile (SQLite, in-process policies) is the default; ``--profile full`` runs
the services on PostgreSQL (``scripts/ensure-postgres.sh``), an OPA server and an S3
server (``scripts/ensure-tools.sh``), fresh databases dropped afterwards.
The simulated days end on the last Sunday (Shanghai); the last line reads
``detection: recall R days D false_per_100_rep_months F auc A top10 T``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from simulation.company import Scale, World
from simulation.drive import Observed, simulate
from simulation.measure import evaluate, table
from simulation.world import plan_world, week_end
from tests.harness import POLICIES, Backends
from tests.support.s3server import S3Server
from tests.support.servers import OpaServer, PostgresDatabases


async def simulate_full(world: World, data_dir: Path) -> Observed:
    """The full profile: PostgreSQL, an OPA server and an S3 server, as the integration
    tests start them."""
    postgres = PostgresDatabases(os.environ.get("SALESGUARD_TEST_POSTGRES_URL"))
    try:
        with OpaServer(POLICIES) as opa, S3Server() as s3:
            backends = await Backends.fresh(postgres, opa, s3, bucket="salesguard-simulation")
            return await simulate(world, data_dir, backends)
    finally:
        await postgres.drop_all()


def main() -> None:
    defaults = Scale()
    parser = argparse.ArgumentParser(
        prog="python -m simulation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", choices=("embedded", "full"), default="embedded")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--reps-per-branch", type=int, default=defaults.reps_per_branch)
    parser.add_argument("--customers-per-rep", type=int, default=defaults.customers_per_rep)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--warmup-days", type=int, default=defaults.warmup_days)
    parser.add_argument("--schemers-per-scheme", type=int, default=defaults.schemers_per_scheme)
    parser.add_argument("--visits-per-day", type=int, default=defaults.visits_per_day)
    args = parser.parse_args()
    scale = Scale(
        reps_per_branch=args.reps_per_branch,
        customers_per_rep=args.customers_per_rep,
        days=args.days,
        warmup_days=args.warmup_days,
        schemers_per_scheme=args.schemers_per_scheme,
        visits_per_day=args.visits_per_day,
    )
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    world = plan_world(args.seed, scale, week_end(today))
    with tempfile.TemporaryDirectory(prefix="salesguard-simulation-") as data_dir:
        run = simulate_full if args.profile == "full" else simulate
        observed = asyncio.run(run(world, Path(data_dir)))
    print(table(world, observed, evaluate(world, observed)))


if __name__ == "__main__":
    main()
