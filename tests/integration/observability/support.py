"""Names both observability test modules use: the directory service whose health and spans
they read, and the health status enum.
"""

from __future__ import annotations

from grpc_health.v1 import health_pb2

DIRECTORY_SERVICE = "salesguard.attendance.v1.DirectoryService"
Status = health_pb2.HealthCheckResponse
