"""The policy engines: an OPA server (full profile) or regopy in-process (embedded).
Both evaluate the same Rego files and the same query paths."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

DECISION_PATH = "salesguard.authz.decision"
THRESHOLDS_PATH = "salesguard.thresholds"


class PolicyEngine(Protocol):
    """Evaluates a query path of the loaded policies against an input."""

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any: ...

    async def healthy(self) -> bool:
        """Whether the engine can decide now (readiness)."""
        ...

    async def close(self) -> None: ...


class EmbeddedPolicyEngine:
    """The Rego policies evaluated in-process with regopy (the embedded profile).

    The policies are compiled once into a bundle with the entrypoints services
    query; a query then takes well under a millisecond instead of recompiling.
    """

    ENTRYPOINTS = (DECISION_PATH, THRESHOLDS_PATH)

    def __init__(self, policies_dir: Path) -> None:
        import regopy

        self._regopy = regopy
        self._lock = threading.Lock()
        builder = regopy.Interpreter()
        modules = sorted(
            path for path in policies_dir.rglob("*.rego") if not path.name.endswith("_test.rego")
        )
        if not modules:
            raise FileNotFoundError(f"no Rego policies under {policies_dir.resolve()}")
        for path in modules:
            builder.add_module(str(path.relative_to(policies_dir)), path.read_text())
        builder.add_data_json(json.dumps(_load_data_documents(policies_dir)))
        self._bundle = builder.build(None, [_entrypoint(path) for path in self.ENTRYPOINTS])
        if not self._bundle.ok():
            raise RuntimeError(f"the policies under {policies_dir} do not compile")
        self._interpreter = regopy.Interpreter()

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any:
        if path not in self.ENTRYPOINTS:
            raise ValueError(f"{path} is not an entrypoint of the embedded policies")
        # The interpreter is not thread-safe and a query takes under a millisecond:
        # evaluate under a lock on the event loop's thread rather than hopping threads.
        with self._lock:
            self._interpreter.set_input(self._regopy.Input(input_document or {}))
            output = self._interpreter.query_bundle_entrypoint(self._bundle, _entrypoint(path))
        if not output.ok():
            raise RuntimeError(f"policy evaluation failed: {output}")
        expressions = json.loads(str(output)).get("expressions") or []
        return expressions[0] if expressions else None

    async def healthy(self) -> bool:
        return True  # in-process: it decides whenever the process runs

    async def close(self) -> None:
        return None


def _entrypoint(path: str) -> str:
    return path.replace(".", "/")


def _load_data_documents(policies_dir: Path) -> dict[str, Any]:
    """Merge every data.json under its folder path, as ``opa run`` does."""
    root: dict[str, Any] = {}
    for path in sorted(policies_dir.rglob("data.json")):
        node = root
        for part in path.parent.relative_to(policies_dir).parts:
            node = node.setdefault(part, {})
        node.update(json.loads(path.read_text()))
    return root


class OpaServerPolicyEngine:
    """An OPA server (a sidecar in Kubernetes) reached through opa-python-client."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        from opa_client.opa_async import AsyncOpaClient

        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"SALESGUARD_OPA_URL is not a URL: {url!r}")
        self._client = AsyncOpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8181),
            ssl=parts.scheme == "https",
            timeout=timeout_seconds,
            # One retry on a connection error only (never on a timeout): a pooled keep-alive
            # connection the server has just closed fails the first write, and a policy
            # query is a pure read, so asking again is safe and keeps a healthy engine from
            # denying a request. An engine that is down is still refused within ~0.3 s.
            retries=1,
        )
        self._opened = False
        self._open_lock = asyncio.Lock()

    async def _open(self) -> None:
        if not self._opened:
            async with self._open_lock:
                if not self._opened:
                    await self._client.__aenter__()
                    self._opened = True

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any:
        await self._open()
        package, _, rule = path.rpartition(".")
        response = await self._client.query_rule(
            input_data=dict(input_document or {}), package_path=package, rule_name=rule
        )
        return response.get("result")

    async def healthy(self) -> bool:
        """OPA's own health check: 200 once the server is up with its policies loaded."""
        await self._open()
        return bool(await self._client.check_health())

    async def close(self) -> None:
        if self._opened:
            await self._client.close_connection()
            self._opened = False
