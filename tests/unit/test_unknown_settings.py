"""A setting that would not apply stops the process: misspelled, or another component's.

A ``SALESGUARD_*`` variable no salesguard process reads (``SALESGUARD_MAX_QUERY_DEPH``) is
refused at start-up by every entry point, naming the nearest known variable; in production
a process also refuses another component's settings (the chart gives each pod only its
own). Variables only tools read (tests, scripts, skaffold) are registered in one place,
``salesguard.settings.TOOL_VARIABLES``, so a developer's shell still starts everything.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from salesguard.devrun import RunnerSettings, child_environment
from salesguard.settings import (
    ENV_PREFIX,
    TOOL_VARIABLES,
    Settings,
    SettingsError,
    load,
    setting_variables,
    settings_readers,
)
from salesguard_customers.settings import CustomersSettings
from salesguard_gateway.app import service as gateway_app
from salesguard_gateway.settings import GatewaySettings

REPO = Path(__file__).resolve().parents[2]
# Misspellings the tests and the README show being refused.
DELIBERATE_MISSPELLINGS = {
    "SALESGUARD_MAX_QUERY_DEPH",
    "SALESGUARD_CORS_ALLOW_ORIGIN",
    "SALESGUARD_MAX_ALIASSES",
    "SALESGUARD_GEOFENCE_RADIUS",
}
COMPONENTS = ("customers", "attendance", "orders", "commissions", "gateway")
# What a production process needs besides its own settings: real secrets.
PRODUCTION = {
    "environment": "production",
    "internal_secret": "a-production-internal-secret",
    "field_encryption_key": "cHJvZHVjdGlvbi1maWVsZC1rZXktMzItYnl0ZXMhISE=",
    "blind_index_key": "cHJvZHVjdGlvbi1ibGluZC1rZXktMzItYnl0ZXMhISE=",
    "audit_chain_key": "cHJvZHVjdGlvbi1hdWRpdC1rZXktMzItYnl0ZXMhISE=",
}


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No SALESGUARD_* variable from the shell that runs the tests."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


def every_known_variable() -> set[str]:
    known: set[str] = set(TOOL_VARIABLES)
    for settings_class in settings_readers().values():
        known |= setting_variables(settings_class)
    return known


# ── a misspelled variable ───────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("variable", "value", "nearest"),
    [
        ("SALESGUARD_MAX_QUERY_DEPH", "3", "SALESGUARD_MAX_QUERY_DEPTH"),
        (
            "SALESGUARD_CORS_ALLOW_ORIGIN",
            '["https://app.example.com"]',
            "SALESGUARD_CORS_ALLOW_ORIGINS",
        ),
        # The environment is read without regard to case; so is the check.
        ("salesguard_max_query_deph", "3", "SALESGUARD_MAX_QUERY_DEPTH"),
    ],
)
def test_a_misspelled_variable_is_refused_naming_the_nearest_setting(
    clean_environment: pytest.MonkeyPatch, variable: str, value: str, nearest: str
) -> None:
    clean_environment.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        gateway_app.load_settings()
    message = str(refused.value)
    assert variable.upper() in message
    assert f"did you mean {nearest}?" in message


def test_the_nearest_name_says_which_component_reads_it(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("SALESGUARD_CORS_ALLOW_ORIGIN", "https://app.example.com")
    with pytest.raises(
        SettingsError, match=r"SALESGUARD_CORS_ALLOW_ORIGINS \(a setting of gateway\)"
    ):
        load(CustomersSettings)


def test_every_misspelling_is_named_at_once(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("SALESGUARD_MAX_QUERY_DEPH", "3")
    clean_environment.setenv("SALESGUARD_MAX_ALIASSES", "3")
    clean_environment.setenv("SALESGUARD_MAX_PAGE_SIZE", "0")  # a bad value, reported too
    with pytest.raises(SettingsError) as refused:
        gateway_app.load_settings()
    message = str(refused.value)
    for name in (
        "SALESGUARD_MAX_QUERY_DEPH",
        "SALESGUARD_MAX_ALIASSES",
        "SALESGUARD_MAX_PAGE_SIZE",
    ):
        assert name in message


def test_a_misspelled_override_is_refused_too(clean_environment: pytest.MonkeyPatch) -> None:
    """Code (tests, the harness) passes settings by name: a typo there must not vanish either."""
    with pytest.raises(
        SettingsError, match=r"SALESGUARD_MAX_QUERY_DEPH .*SALESGUARD_MAX_QUERY_DEPTH"
    ):
        load(GatewaySettings, max_query_deph=3)
    assert load(GatewaySettings, max_query_depth=3).max_query_depth == 3


# ── another component's setting ─────────────────────────────────────────────────


def test_in_dev_any_components_setting_may_be_set(clean_environment: pytest.MonkeyPatch) -> None:
    """`make run`, the tests and the CLI share one shell: a gateway setting there is not
    a mistake when customers starts."""
    clean_environment.setenv("SALESGUARD_MAX_QUERY_DEPTH", "3")
    clean_environment.setenv("SALESGUARD_GEOFENCE_RADIUS_M", "250")
    assert load(CustomersSettings).neglect_days == 30
    assert load(GatewaySettings).max_query_depth == 3
    assert load(Settings).bootstrap_admin == "admin"  # `salesguard token`


def test_in_production_a_process_refuses_another_components_setting(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("SALESGUARD_MAX_QUERY_DEPTH", "3")
    with pytest.raises(
        SettingsError, match="SALESGUARD_MAX_QUERY_DEPTH is a setting of gateway, not of customers"
    ):
        load(CustomersSettings, **PRODUCTION)
    # Where it belongs, it applies.
    settings = load(GatewaySettings, **PRODUCTION, jwt_secret="a-production-jwt-secret")
    assert settings.max_query_depth == 3


def test_in_production_the_runners_settings_belong_to_the_runner(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("SALESGUARD_RUN_RESTART_DELAY_SECONDS", "2")
    with pytest.raises(SettingsError, match="a setting of salesguard run, not of customers"):
        load(CustomersSettings, **PRODUCTION)


def test_in_production_the_runner_takes_every_components_settings(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """It hands each child its own (child_environment)."""
    clean_environment.setenv("SALESGUARD_MAX_QUERY_DEPTH", "3")
    clean_environment.setenv("SALESGUARD_GEOFENCE_RADIUS_M", "250")
    assert load(RunnerSettings, environment="production").run_restart_delay_seconds == 1.0


# ── tools' variables ────────────────────────────────────────────────────────────


def test_a_developers_shell_with_tool_variables_still_starts_everything(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    for name in TOOL_VARIABLES:
        clean_environment.setenv(name, "1")
    for reader in (Settings, RunnerSettings, CustomersSettings, GatewaySettings):
        load(reader)
    load(CustomersSettings, **PRODUCTION)


def test_every_installed_component_and_the_runner_read_settings() -> None:
    readers = settings_readers()
    assert set(readers) == {*COMPONENTS, "salesguard run"}
    assert readers["gateway"] is GatewaySettings
    assert readers["salesguard run"] is RunnerSettings
    assert setting_variables(GatewaySettings) >= {
        "SALESGUARD_MAX_QUERY_DEPTH",
        "SALESGUARD_CORS_ALLOW_ORIGINS",
        "SALESGUARD_PROFILE",
    }


def test_no_tool_variable_is_also_a_setting() -> None:
    settings = every_known_variable() - set(TOOL_VARIABLES)
    assert not settings & set(TOOL_VARIABLES)
    for name in TOOL_VARIABLES:
        assert name.startswith(ENV_PREFIX) and name == name.upper()


# ── every entry point ───────────────────────────────────────────────────────────

ENTRY_POINTS = {
    "serve": ["serve", "gateway"],
    "migrate": ["migrate", "customers"],
    "healthcheck": ["healthcheck", "attendance"],
    "job": ["job", "customers.pool-sweep"],
    "token": ["token", "admin"],
    "run": ["run"],
}


@pytest.mark.parametrize("command", sorted(ENTRY_POINTS))
def test_every_entry_point_refuses_to_start(command: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(ENV_PREFIX)}
    env |= {
        "SALESGUARD_DATA_DIR": str(tmp_path),
        # Where nothing would be served if the check let the process through.
        "SALESGUARD_GATEWAY_PORT": "1",
        "SALESGUARD_MAX_QUERY_DEPH": "3",
    }
    finished = subprocess.run(
        [sys.executable, "-m", "salesguard.cli", *ENTRY_POINTS[command]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    assert "SALESGUARD_MAX_QUERY_DEPH" in finished.stderr
    assert "did you mean SALESGUARD_MAX_QUERY_DEPTH" in finished.stderr
    assert not (tmp_path / "customers.db").exists(), "nothing ran"


# ── every SALESGUARD_* name the repository mentions is known ────────────────────

# A name, not a prefix or a pattern (`SALESGUARD_S3_*`, `SALESGUARD_<SERVICE>_ADDRESS`,
# f"SALESGUARD_{name}"): those end in "_" where the match stops.
_VARIABLE = re.compile(r"\bSALESGUARD_[A-Z0-9_]*[A-Z0-9]\b(?![{<*%])")
_TEXT_SUFFIXES = {".py", ".sh", ".md", ".yaml", ".yml", ".tpl", ".json", ".txt", ".toml", ".cfg"}


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    paths = [REPO / name for name in listed.split("\0") if name]
    return [
        path
        for path in paths
        if path.is_file()
        and (
            path.suffix in _TEXT_SUFFIXES
            or path.name in ("Makefile", "Dockerfile", "run")
            or path.name.endswith("Dockerfile")
        )
    ]


def _mentions() -> dict[str, set[str]]:
    """Variable → the files that mention it."""
    found: dict[str, set[str]] = {}
    for path in _tracked_text_files():
        text = path.read_text(errors="replace")
        for match in _VARIABLE.finditer(text):
            found.setdefault(match.group(), set()).add(str(path.relative_to(REPO)))
    return found


def test_every_variable_the_repository_mentions_is_a_setting_or_a_tool_variable() -> None:
    mentions = _mentions()
    assert "SALESGUARD_TEST_POSTGRES_URL" in mentions, "the scan found nothing"
    known = every_known_variable() | DELIBERATE_MISSPELLINGS
    unknown = {name: sorted(files) for name, files in mentions.items() if name not in known}
    assert not unknown, (
        f"read by no settings class and not in salesguard.settings.TOOL_VARIABLES: {unknown}"
    )


def test_every_tool_variable_is_used_somewhere() -> None:
    mentions = _mentions()
    settings_module = "shared/src/salesguard/settings.py"
    for name in TOOL_VARIABLES:
        users = mentions.get(name, set()) - {settings_module}
        assert users, f"{name} is registered as a tool variable but nothing reads it"


# ── the README documents only settings that exist ──────────────────────────────


def _readme_section(title: str) -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def _table_variables(section: str) -> set[str]:
    """The variables in the first column of the section's table. A cell may list several:
    `SALESGUARD_S3_ENDPOINT`, `_S3_ACCESS_KEY` (the prefix left out), and
    `SALESGUARD_<SERVICE>_ADDRESS` stands for each service's; `OTEL_*` is not ours."""
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        for code in re.findall(r"`([^`]+)`", cell):
            if code.startswith("OTEL_"):
                continue  # OpenTelemetry's standard variables: the SDK reads them, not ours
            name = code if code.startswith(ENV_PREFIX) else ENV_PREFIX + code.lstrip("_")
            if "<SERVICE>" in name:
                names |= {name.replace("<SERVICE>", service.upper()) for service in COMPONENTS[:4]}
            else:
                names.add(name)
    return names


def test_the_readme_configuration_table_lists_only_settings() -> None:
    section = _readme_section("Configuration")
    table = _table_variables(section)
    assert {
        "SALESGUARD_PROFILE",
        "SALESGUARD_S3_ACCESS_KEY",
        "SALESGUARD_ORDERS_ADDRESS",
        "SALESGUARD_RUN_RESTART_MAX_DELAY_SECONDS",
    } <= table, "the table was not read"
    settings = every_known_variable() - set(TOOL_VARIABLES)
    assert table - settings == set(), "documented but read by no settings class"
    in_text = set(_VARIABLE.findall(section)) - set(TOOL_VARIABLES) - DELIBERATE_MISSPELLINGS
    assert in_text - settings == set(), "mentioned in Configuration but no setting"


def test_the_readme_says_unknown_variables_are_refused() -> None:
    section = _readme_section("Configuration")
    assert "SALESGUARD_MAX_QUERY_DEPH" in section
    assert "did you mean" in section


def test_a_misspelled_key_inside_a_json_setting_names_its_path(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv(
        "SALESGUARD_JOBS", '{"customers.pool-sweep": {"intervall_seconds": 5}}'
    )
    with pytest.raises(SettingsError, match=r"SALESGUARD_JOBS_.*INTERVALL_SECONDS: Extra inputs"):
        load(CustomersSettings)


def test_make_run_gives_each_child_only_its_own_settings() -> None:
    """The runner accepts any component's settings; each child then gets its own only, so
    a child in production refuses nothing and none imports the other components."""
    shell = {
        "PATH": "/usr/bin",
        "SALESGUARD_PROFILE": "embedded",
        "SALESGUARD_MAX_QUERY_DEPTH": "7",
        "SALESGUARD_GEOFENCE_RADIUS_M": "250",
        "SALESGUARD_RUN_RESTART_DELAY_SECONDS": "2",
        "SALESGUARD_TEST_POSTGRES_URL": "postgresql://127.0.0.1/postgres",
    }
    assert child_environment(shell, "attendance") == {
        "PATH": "/usr/bin",
        "SALESGUARD_PROFILE": "embedded",
        "SALESGUARD_GEOFENCE_RADIUS_M": "250",
    }
    assert child_environment(shell, "gateway") == {
        "PATH": "/usr/bin",
        "SALESGUARD_PROFILE": "embedded",
        "SALESGUARD_MAX_QUERY_DEPTH": "7",
    }
