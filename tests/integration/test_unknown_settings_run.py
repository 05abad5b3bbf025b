"""`make run` (`salesguard run`) from a developer's shell: tools' variables and any
component's settings start the suite; a misspelled variable starts nothing."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from salesguard.settings import TOOL_VARIABLES
from tests.support.devrun import RunCopy


def test_a_shell_with_tool_variables_and_other_components_settings_runs_the_suite(
    tmp_path: Path, copies: list[RunCopy]
) -> None:
    shell = dict.fromkeys(TOOL_VARIABLES, "1")
    shell |= {
        "SALESGUARD_TEST_POSTGRES_URL": "postgresql://postgres@127.0.0.1:55432/postgres",
        # Read by one child each; every child gets the same environment.
        "SALESGUARD_MAX_QUERY_DEPTH": "7",
        "SALESGUARD_GEOFENCE_RADIUS_M": "250",
        "SALESGUARD_EXPORT_MAX_ROWS": "500",
    }
    copy = RunCopy.start(tmp_path, extra_env=shell)
    copies.append(copy)
    copy.wait_running()
    assert "not a salesguard setting" not in copy.log()
    copy.stop_every_child(signal.SIGTERM)


def test_a_misspelled_variable_starts_nothing(tmp_path: Path, copies: list[RunCopy]) -> None:
    copy = RunCopy.start(tmp_path, extra_env={"SALESGUARD_GEOFENCE_RADIUS": "250"})
    copies.append(copy)
    try:
        code = copy.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the runner did not refuse:\n{copy.tail()}") from None
    assert code == 2, copy.tail()
    assert (
        "SALESGUARD_GEOFENCE_RADIUS is not a salesguard setting; "
        "did you mean SALESGUARD_GEOFENCE_RADIUS_M (a setting of attendance)?"
    ) in copy.log(), copy.tail()
    assert copy.pids() == {}, "no child was started"
