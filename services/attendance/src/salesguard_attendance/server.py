"""The attendance service: its servicers wired to the shared runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from salesguard.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard.grpc_server import Servicer
from salesguard.service import GrpcServiceApp, Runtime
from salesguard_attendance.directory import Directory
from salesguard_attendance.models import Alert, Base
from salesguard_attendance.servicer import DirectoryServicer
from salesguard_attendance.settings import AttendanceSettings


def build_servicers(runtime: Runtime[AttendanceSettings]) -> Sequence[Servicer]:
    return [
        Servicer(
            directory_pb2_grpc.add_DirectoryServiceServicer_to_server,
            DirectoryServicer(Directory(runtime)),
            directory_pb2.DESCRIPTOR.services_by_name["DirectoryService"],
        ),
        runtime.alerts_servicer(Alert),
    ]


async def prepare(runtime: Runtime[AttendanceSettings]) -> None:
    await Directory(runtime).ensure_bootstrap_admin()


service = GrpcServiceApp(
    name="attendance",
    settings_class=AttendanceSettings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    servicers=build_servicers,
    on_start=prepare,
)

if __name__ == "__main__":
    service.main()
