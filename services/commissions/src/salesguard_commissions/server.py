"""The commissions service: its servicers wired to the shared runtime."""

from __future__ import annotations

from collections.abc import Sequence

from salesguard.grpc_server import Servicer
from salesguard.service import GrpcServiceApp, Runtime
from salesguard_commissions import SERVICE_NAME
from salesguard_commissions.jobs import JOBS
from salesguard_commissions.models import Base
from salesguard_commissions.plans import Plans
from salesguard_commissions.runs import Runs
from salesguard_commissions.servicer import commissions_servicer
from salesguard_commissions.settings import CommissionsSettings
from salesguard_commissions.statements import Statements


def build_servicers(runtime: Runtime[CommissionsSettings]) -> Sequence[Servicer]:
    plans = Plans(runtime)
    statements = Statements(runtime)
    return [
        commissions_servicer(plans, Runs(runtime, plans), statements),
        statements.downloads.servicer(),
    ]


service = GrpcServiceApp(SERVICE_NAME, CommissionsSettings, Base, build_servicers, jobs=JOBS)
