"""The attendance service: its servicers wired to the shared runtime."""

from __future__ import annotations

from collections.abc import Sequence

from salesguard.grpc_server import Servicer
from salesguard.service import GrpcServiceApp, Runtime
from salesguard_attendance import SERVICE_NAME
from salesguard_attendance.calllogs import CallLogs
from salesguard_attendance.contacts import Contacts
from salesguard_attendance.customer_lookups import CustomerLookups
from salesguard_attendance.detectors import Detectors
from salesguard_attendance.directory import Directory
from salesguard_attendance.directory_reads import DirectoryReads
from salesguard_attendance.jobs import JOBS
from salesguard_attendance.models import Alert, AlertDecision, Base
from salesguard_attendance.photo_evidence import Photos
from salesguard_attendance.plans import VisitPlans
from salesguard_attendance.servicer import directory_servicer, visits_servicer
from salesguard_attendance.settings import AttendanceSettings
from salesguard_attendance.timeline import timeline_servicer
from salesguard_attendance.visits import Visits


def build_servicers(runtime: Runtime[AttendanceSettings]) -> Sequence[Servicer]:
    lookups = CustomerLookups(runtime)
    detectors = Detectors(runtime, lookups)
    photos = Photos(runtime)
    visits = Visits(runtime, detectors, lookups, photos)
    return [
        directory_servicer(Directory(runtime), DirectoryReads(runtime)),
        visits_servicer(
            visits,
            VisitPlans(runtime, lookups),
            photos,
            CallLogs(runtime, detectors),
            detectors,
            Contacts(runtime.db, runtime.policy),
            runtime.policy,
        ),
        timeline_servicer(visits),
        runtime.alerts_servicer(Alert, AlertDecision),
    ]


async def prepare(runtime: Runtime[AttendanceSettings]) -> None:
    await Directory(runtime).ensure_bootstrap_admin()


service = GrpcServiceApp(
    SERVICE_NAME, AttendanceSettings, Base, build_servicers, on_start=prepare, jobs=JOBS
)
