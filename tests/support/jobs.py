"""``salesguard job ...`` as a CronJob's pod runs it: a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any


def run_job_command(
    env: Mapping[str, str], *args: str, timeout: float
) -> tuple[int, dict[str, Any]]:
    """Run ``salesguard job *args`` with ``env``; its exit code and the report it prints
    (one JSON line, nothing else)."""
    done = subprocess.run(
        [sys.executable, "-m", "salesguard.cli", "job", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, (done.stdout, done.stderr)
    report: dict[str, Any] = json.loads(lines[0])
    return done.returncode, report
