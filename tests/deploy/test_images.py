"""Every image the chart runs is a skaffold artifact built from a Dockerfile that exists,
the Dockerfiles build what the chart expects, and skaffold's profiles pass the chart.

The one Dockerfile is read here (`make images` builds and runs it, tests/images): multi-stage,
COMPONENT and PORT as build arguments, every component's dependencies in one layer the five
images share, a slim Python 3.11 final stage with nothing but the interpreter and the
virtual environment, a non-root user, `uv sync --locked`, and `salesguard serve` as the
entry point. .dockerignore is evaluated to check that what it COPYs (the committed gRPC
stubs included) reaches the build.
"""

from __future__ import annotations

import copy
import itertools
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from salesguard import cli
from tests.deploy.chart import (
    COMPONENTS,
    PRODUCTION_VALUES,
    REPO,
    SERVICES,
    Rendered,
    app_container,
    component_package_dir,
    container_env,
    containers,
    load_component_settings,
    render,
    salesguard_component,
    values,
)

SKAFFOLD = yaml.safe_load((REPO / "skaffold.yaml").read_text())
RELEASE = SKAFFOLD["deploy"]["helm"]["releases"][0]
SKAFFOLD_ENV = {"SALESGUARD_VALUES": str(PRODUCTION_VALUES.relative_to(REPO))}


# ── skaffold ───────────────────────────────────────────────────────────────────


def _artifacts() -> dict[str, dict[str, Any]]:
    return {artifact["image"]: artifact for artifact in SKAFFOLD["build"]["artifacts"]}


def _template_name(image: str) -> str:
    """skaffold's name for an artifact in templates: / and - become _."""
    return re.sub(r"[/\-.]", "_", image)


def _dockerfile_of(artifact: Mapping[str, Any]) -> Path:
    return REPO / str(artifact.get("context", ".")) / str(artifact["docker"]["dockerfile"])


def test_every_chart_image_is_a_skaffold_artifact_with_a_dockerfile() -> None:
    chart_values = values()
    artifacts = _artifacts()
    assert SKAFFOLD["build"]["tagPolicy"] == {"gitCommit": {}}
    templates = RELEASE["setValueTemplates"]
    for component in COMPONENTS:
        image = chart_values["components"][component]["image"]["repository"]
        assert image in artifacts, f"{component}'s image {image} is no skaffold artifact"
        dockerfile = _dockerfile_of(artifacts[image])
        assert dockerfile.is_file(), dockerfile
        name = _template_name(image)
        prefix = f"components.{component}.image"
        assert templates[f"{prefix}.repository"] == f"{{{{.IMAGE_REPO_{name}}}}}"
        assert templates[f"{prefix}.tag"] == f"{{{{.IMAGE_TAG_{name}}}}}"
    assert len(artifacts) == len(COMPONENTS), "an artifact no component runs"


def test_skaffold_deploys_the_chart() -> None:
    assert RELEASE["chartPath"] == "charts/salesguard"
    assert (REPO / RELEASE["chartPath"] / "Chart.yaml").is_file()


def _apply_patches(document: dict[str, Any], patches: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON Patch (add, replace, remove), as skaffold applies a profile's patches."""
    result = copy.deepcopy(document)
    for patch in patches:
        *parents, last = [
            part.replace("~1", "/").replace("~0", "~") for part in patch["path"].split("/")[1:]
        ]
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) and last != "-" else last
        if patch["op"] in ("add", "replace"):
            if isinstance(node, list) and key == "-":
                node.append(patch["value"])
            else:
                node[key] = patch["value"]
        elif patch["op"] == "remove":
            del node[key]
        else:
            raise ValueError(patch["op"])
    return result


def _skaffold_render(profile: str | None) -> tuple[Rendered, dict[str, str]]:
    """The chart as skaffold would deploy it, with made-up built image names and tags."""
    config = SKAFFOLD
    if profile is not None:
        (found,) = [p for p in SKAFFOLD["profiles"] if p["name"] == profile]
        config = _apply_patches(SKAFFOLD, found["patches"])
    release = config["deploy"]["helm"]["releases"][0]
    built = {}
    for image in _artifacts():
        name = _template_name(image)
        built[f"{{{{.IMAGE_REPO_{name}}}}}"] = f"registry.local/team/{image}"
        built[f"{{{{.IMAGE_TAG_{name}}}}}"] = "abc1234-dirty"
    set_values = {key: built[value] for key, value in release["setValueTemplates"].items()}
    for key, value in release.get("setValues", {}).items():
        set_values[key] = str(value).lower() if isinstance(value, bool) else str(value)
    values_files = []
    for path in release.get("valuesFiles", []):
        for variable, replacement in SKAFFOLD_ENV.items():
            path = path.replace(f"{{{{.{variable}}}}}", replacement)
        values_files.append(REPO / path)
    images = {
        component: f"{built[release['setValueTemplates'][f'components.{component}.image.repository']]}:abc1234-dirty"
        for component in COMPONENTS
    }
    return render(*values_files, set_values=set_values), images


@pytest.mark.parametrize("profile", [None, "dev", "prod"])
def test_skaffold_runs_the_images_it_builds(profile: str | None) -> None:
    rendered, images = _skaffold_render(profile)
    for workload in rendered.workloads():
        container = app_container(workload)
        component = salesguard_component(container)
        assert container["image"] == images[component], workload["metadata"]["name"]
        others = [c["image"] for c in containers(workload) if c is not container]
        assert all(image.startswith("openpolicyagent/opa:") for image in others)


def test_the_dev_profile_is_one_debug_replica_with_graphiql() -> None:
    rendered, _ = _skaffold_render("dev")
    for deployment in rendered.of_kind("Deployment"):
        assert deployment["spec"]["replicas"] == 1, deployment["metadata"]["name"]
        component = app_container(deployment)["args"][1]
        env = container_env(rendered, app_container(deployment))
        settings: Any = load_component_settings(component, env)
        assert settings.log_level == "DEBUG"
        assert settings.environment.value == "dev"
        if component == "gateway":
            assert settings.graphiql_enabled is True
    assert rendered.of_kind("HorizontalPodAutoscaler") == []


def test_the_prod_profile_autoscales_every_component() -> None:
    rendered, _ = _skaffold_render("prod")
    assert len(rendered.of_kind("HorizontalPodAutoscaler")) == len(COMPONENTS)
    for deployment in rendered.of_kind("Deployment"):
        env = container_env(rendered, app_container(deployment))
        assert env["SALESGUARD_ENVIRONMENT"] == "production"
        assert env["SALESGUARD_LOG_LEVEL"] == "INFO"


# ── Dockerfiles ─────────────────────────────────────────────────────────────────


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [value for key, value in self.instructions if key == keyword]


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: arguments.get(m.group(1), m.group(0)), parts[0])
            stages.append(Stage(base, parts[2] if len(parts) > 2 else None))
        elif not stages and keyword == "ARG":
            name, _, default = rest.partition("=")
            arguments[name] = default
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
    return arguments, stages


def _component_dir(component: str) -> Path:
    """services/<name> or gateway: the workspace member behind the component."""
    return component_package_dir(component).parents[1]


def _workspace_members() -> list[Path]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    return sorted(
        path
        for pattern in members
        for path in REPO.glob(pattern)
        if (path / "pyproject.toml").is_file()
    )


DOCKERFILE = REPO / "Dockerfile"


def _stages() -> tuple[dict[str, str], dict[str, Stage]]:
    arguments, stages = parse_dockerfile(DOCKERFILE)
    assert all(stage.name for stage in stages), "every stage is named"
    return arguments, {str(stage.name): stage for stage in stages}


def test_one_dockerfile_builds_the_five_images() -> None:
    """services/*/Dockerfile and gateway/Dockerfile differed only in package and port."""
    found = [
        path
        for path in REPO.rglob("*Dockerfile*")
        if not {".venv", ".git", "node_modules"} & set(path.relative_to(REPO).parts)
    ]
    assert found == [DOCKERFILE], found


@pytest.mark.parametrize("component", COMPONENTS)
def test_skaffold_builds_each_component_with_its_package_and_port(component: str) -> None:
    chart_values = values()["components"][component]
    artifact = _artifacts()[chart_values["image"]["repository"]]
    assert _dockerfile_of(artifact) == DOCKERFILE
    assert artifact["context"] == "."
    port = load_component_settings(component, {}).listen_address(component)[1]
    assert artifact["docker"]["buildArgs"] == {"COMPONENT": component, "PORT": str(port)}
    assert chart_values["port"] == port, "EXPOSE, the chart and the code agree on the port"
    package = tomllib.loads((_component_dir(component) / "pyproject.toml").read_text())
    assert package["project"]["name"] == f"salesguard-{component}", "COMPONENT names the package"


def test_the_base_and_uv_are_build_arguments_with_the_published_defaults() -> None:
    arguments, stages = _stages()
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", arguments["PYTHON_IMAGE"])
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", arguments["UV_IMAGE"])
    assert stages["uv"].base == arguments["UV_IMAGE"]
    # The venv's interpreter path must exist where it runs: one base for both.
    assert stages["dependencies"].base == stages["runtime"].base == arguments["PYTHON_IMAGE"]
    assert stages["build"].base == "dependencies"
    assert list(stages)[-1] == "runtime"


def _copied(stage: Stage) -> set[str]:
    """The build-context paths a stage COPYs (every word but the destination)."""
    return {
        source
        for copy_ in stage.all("COPY")
        if not copy_.startswith("--from")
        for source in shlex.split(copy_)[:-1]
    }


def test_dependencies_of_every_component_come_first_from_the_lock_alone() -> None:
    _, stages = _stages()
    dependencies = stages["dependencies"]
    copied = _copied(dependencies)
    members = {f"{m.relative_to(REPO)}/pyproject.toml" for m in _workspace_members()}
    assert copied == {"pyproject.toml", "uv.lock"} | members, (
        "the lock and the members' metadata only"
    )
    (sync,) = dependencies.all("RUN")
    assert {
        "uv sync",
        "--locked",
        "--all-packages",
        "--no-install-workspace",
        "--no-dev",
    } <= _flags(sync), sync
    assert "--mount=type=cache,target=/root/.cache/uv" in sync, "builds share uv's cache"


def test_the_build_stage_installs_the_component_named_by_the_argument() -> None:
    _, stages = _stages()
    build = stages["build"]
    assert _copied(build) == {"api/src", "shared/src"} | {
        f"{_component_dir(c).relative_to(REPO)}/src" for c in COMPONENTS
    }, "every member's sources: the layers are the same for the five images"
    (run,) = build.all("RUN")
    assert {
        "--locked",
        '--package "salesguard-$COMPONENT"',
        "--no-editable",
        "--inexact",
    } <= _flags(run) | {f"{a} {b}" for a, b in itertools.pairwise(run.split())}, run
    # The arguments come after the COPYs: an argument in scope keys every later step's cache.
    keywords = [keyword for keyword, _ in build.instructions]
    assert keywords.index("ARG") > max(i for i, k in enumerate(keywords) if k == "COPY")


def test_the_runtime_stage_is_the_interpreter_and_two_layers_of_packages() -> None:
    _, stages = _stages()
    final = stages["runtime"]
    for run in final.all("RUN"):
        assert not re.search(r"\b(uv|pip|apt-get|apk)\b", run), (
            f"build tools in the final stage: {run}"
        )
    assert final.all("COPY") == [
        "--from=dependencies /app/.venv /app/.venv",
        "--from=build /app/component /app/.venv",
    ], "the shared dependencies, then the component's own packages"
    env = " ".join(final.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    (user,) = final.all("USER")
    uid = int(user.split(":")[0])
    assert uid != 0
    assert uid == values()["podSecurityContext"]["runAsUser"]
    # PORT is declared after every layer-making step, so the layers stay the same.
    keywords = [keyword for keyword, _ in final.instructions]
    (port_argument,) = [
        i for i, (k, v) in enumerate(final.instructions) if (k, v) == ("ARG", "PORT")
    ]
    assert port_argument > max(i for i, k in enumerate(keywords) if k in ("RUN", "COPY"))
    assert final.all("EXPOSE") == ["${PORT}"]
    # An image holds one component: `salesguard serve` and `healthcheck` need no name.
    assert final.all("ENTRYPOINT") == ['["salesguard"]']
    (healthcheck,) = final.all("HEALTHCHECK")
    assert healthcheck.endswith('CMD ["salesguard", "healthcheck"]'), healthcheck
    assert final.all("CMD") == ['["serve"]']


def test_salesguard_needs_a_name_where_several_components_are_installed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The development environment installs all five: there the name is required."""
    for command in ("serve", "migrate", "healthcheck"):
        with pytest.raises(SystemExit) as exited:
            cli.main([command])
        assert str(exited.value) == (
            "name the service, one of: attendance, commissions, customers, gateway, orders"
        )


def _flags(run: str) -> set[str]:
    words = shlex.split(run)
    found = set(words)
    found |= {f"{a} {b}" for a, b in itertools.pairwise(words)}
    return found


def _dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                regex += ".*"
                i += 2
                if pattern.startswith("/", i):
                    regex += "/?"
                    i += 1
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex += pattern[i : end + 1]
                i = end + 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        rules.append((include, re.compile(regex)))
    return rules


def in_build_context(relative: str) -> bool:
    """Whether .dockerignore lets a path into the build context (the last matching rule
    wins; a rule matches a path or any of its parent directories)."""
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for include, regex in _dockerignore():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            included = include
    return included


def test_dockerignore_lets_in_what_the_images_copy_and_nothing_else() -> None:
    stubs = sorted((REPO / "api" / "src" / "salesguard_api").glob("*/v1/*_pb2*.py"))
    assert stubs, "the generated gRPC stubs are committed in api/"
    must = [*stubs, REPO / "uv.lock", REPO / "pyproject.toml", REPO / "api" / "pyproject.toml"]
    for component in COMPONENTS:
        member = _component_dir(component)
        must += [member / "pyproject.toml", *component_package_dir(component).rglob("*.py")]
    for service in SERVICES:
        must += component_package_dir(service).rglob("script.py.mako")
    for path in must:
        assert in_build_context(str(path.relative_to(REPO))), f"{path} is kept out of the build"
    for outside in (
        ".git/HEAD",
        ".venv/bin/python",
        ".salesguard/customers.db",
        "tests/conftest.py",
        "charts/salesguard/values.yaml",
        "shared/src/salesguard/__pycache__/cli.cpython-311.pyc",
        ".env",
    ):
        assert not in_build_context(outside), f"{outside} would reach the build context"
