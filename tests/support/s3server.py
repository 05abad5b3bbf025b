"""SeaweedFS as the integration tests' S3 server, on loopback in a throw-away directory.

Typical use::

    with S3Server() as s3:                      # s3.endpoint == "127.0.0.1:PORT"
        Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Self

from tests.support.servers import (
    LOOPBACK,
    Process,
    ServerStartError,
    find_binary,
    free_port,
    http_status,
)

__all__ = ["S3Server", "seaweedfs_identities"]


def seaweedfs_identities(name: str, access_key: str, secret_key: str) -> dict[str, Any]:
    """SeaweedFS's -s3.config: one identity with every action the suite uses."""
    return {
        "identities": [
            {
                "name": name,
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


class S3Server(Process):
    """SeaweedFS as an S3-compatible server on loopback, in a throw-away directory.

    Runs ``weed mini``: master, volume server, filer and S3 gateway in one
    process, with the small/dev defaults that suit tests (one volume grown per
    bucket, no post-start allocation hold, shutdown in about a second); WebDAV,
    the admin UI, the Iceberg/Lance endpoints and telemetry are off. All ports
    are on 127.0.0.1. One S3 identity is configured (``-s3.config`` identities
    JSON) with ``access_key``/``secret_key``: requests must be signed with
    them, anonymous ones get 403. Connect with
    ``Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)``.

    Findings for this SeaweedFS version: ``make_bucket(name, object_lock=True)``
    works (the bucket is versioned, a default retention can be set, and a
    version under COMPLIANCE retention cannot be deleted); a PUT with
    ``If-None-Match: *`` onto an existing key is refused with 412
    PreconditionFailed, presigned or signed.
    """

    name = "SeaweedFS"
    _READY_LINE = b"All enabled components are running and ready to use"

    def __init__(
        self,
        access_key: str = "salesguard-test",
        secret_key: str = "salesguard-test-secret",  # noqa: S107 (throw-away server)
        *,
        binary: str | None = None,
        startup_timeout: float = 45.0,
        memory_limit_mib: int = 256,
    ) -> None:
        super().__init__(startup_timeout)
        self.access_key = access_key
        self.secret_key = secret_key
        self.binary = binary
        self.memory_limit_mib = memory_limit_mib
        self.port = 0
        self._ports: dict[str, int] = {}
        self._workdir: Path | None = None

    def start(self) -> Self:
        if self.running:
            return self
        self._workdir = Path(tempfile.mkdtemp(prefix="salesguard-s3-"))
        data = self._workdir / "data"
        data.mkdir()
        config = self._workdir / "s3.json"
        config.write_text(
            json.dumps(seaweedfs_identities("salesguard-test", self.access_key, self.secret_key))
        )
        # Every HTTP port has a gRPC twin that otherwise defaults to port+10000
        # (maybe taken), so all are picked; the admin server cannot be disabled.
        names = [
            "master",
            "master.grpc",
            "volume",
            "volume.grpc",
            "filer",
            "filer.grpc",
            "s3",
            "s3.grpc",
            "admin",
            "admin.grpc",
        ]
        ports: dict[str, int] = {}
        while len(set(ports.values())) < len(names):
            ports = {n: free_port() for n in names}
        self._ports = ports
        self.port = ports["s3"]
        args = [
            self.binary or find_binary("weed"),
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            *(
                f"-{n.replace('.grpc', '.port.grpc')}={p}"
                if n.endswith(".grpc")
                else f"-{n}.port={p}"
                for n, p in ports.items()
            ),
            "-admin.port.legacy=0",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            f"-filer.localSocket={self._workdir / 'filer.sock'}",
            f"-s3.localSocket={self._workdir / 's3.sock'}",
            "-master.telemetry=false",
            # Small, sparse volumes: the disk holds only what the tests write.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=200",
        ]
        env: dict[str, str | None] = {"GOMEMLIMIT": f"{self.memory_limit_mib}MiB"}
        # mini turns these into an extra identity and buckets: keep them out.
        for var in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "S3_BUCKET",
            "S3_TABLE_BUCKET",
            "S3_EXTERNAL_URL",
        ):
            env[var] = None
        self._spawn(args, self._workdir / "weed.log", cwd=str(self._workdir), env=env)
        try:
            self._wait_ready(self._ready, f"S3 on {self.endpoint} ready")
        except ServerStartError:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        # mini prints its banner once every component has reported ready.
        assert self._log_path is not None
        if self._READY_LINE not in self._log_path.read_bytes():
            return False
        return http_status(f"{self.url}/healthz") == 200

    def stop(self) -> None:
        """Stop the server and delete its data."""
        self._terminate(grace=5.0)
        # SeaweedFS puts its local gRPC sockets in /tmp whatever -dir says.
        for name, port in self._ports.items():
            if name.endswith(".grpc"):
                Path(f"/tmp/seaweedfs-{name.split('.')[0]}-grpc-{port}.sock").unlink(
                    missing_ok=True
                )
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def close(self) -> None:
        self.stop()
