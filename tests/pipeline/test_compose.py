"""docker-compose.yml, the Dockerfile and .env.example describe things that really exist.

There is no Docker engine on our machines, so the compose file is checked by reading it: every
service runs a command this project has, long-running services have healthchecks, data lives
in declared volumes, and every variable in .env.example is read by the code. Where Docker is
installed, ``docker compose config`` validates the file as well.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from monitor.cli.main import cli
from monitor.config import Settings
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


SERVICES = _compose()["services"]
OURS = sorted(name for name, service in SERVICES.items() if "build" in service)


def _argv(command: Any) -> list[str]:
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if argv[:2] == ["sh", "-c"]:
        # The migration cleans the metrics folder first, then execs the real command.
        argv = shlex.split(argv[2].split("exec ", 1)[1])
    return argv


def _check_monitor_command(argv: list[str]) -> None:
    """Walk the click tree as ``monitor ARGV`` would, failing on an unknown command or option."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="monitor")
    rest = argv[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"'monitor {rest[0]}' is not a command (monitor --help)"
        ctx = click.Context(sub, info_name=rest[0], parent=ctx)
        command, rest = sub, rest[1:]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for word in rest:
        if word.startswith("--"):
            assert word.split("=", 1)[0] in options, f"{' '.join(argv)}: no option {word}"


def _check_celery_command(argv: list[str]) -> None:
    import celeryconfig

    assert argv[1:3] == ["-A", "workers"], "celery must load the app from the workers package"
    assert argv[3] in {"worker", "beat"}
    if "-Q" in argv:
        known = {queue.name for queue in celeryconfig.task_queues}
        queues = argv[argv.index("-Q") + 1].split(",")
        assert set(queues) <= known, f"unknown queue in {queues}"


@pytest.mark.parametrize("name", OURS, ids=OURS)
def test_it_runs_only_commands_the_project_has(name: str) -> None:
    argv = _argv(SERVICES[name]["command"])
    if argv[0] == "monitor":
        _check_monitor_command(argv)
    elif argv[0] == "celery":
        _check_celery_command(argv)
    elif argv[0] == "python":
        assert argv[1] == "-m"
        __import__(argv[2])
    else:
        pytest.fail(f"{name}: unexpected program {argv[0]}")


def test_it_has_every_role_of_the_scaled_out_service() -> None:
    commands = [" ".join(_argv(SERVICES[name]["command"])) for name in OURS]
    for queue in ("poll", "match", "alerts"):
        assert any(f"-Q {queue}" in c for c in commands), f"no worker for queue {queue}"
    assert sum("celery -A workers beat" in c for c in commands) == 1, "exactly one beat service"
    assert any(c.startswith("monitor db upgrade") for c in commands)
    # The dashboard runs through the same entry point as under `monitor run`.
    assert any(c.endswith("-m monitor.dashboard") for c in commands)
    assert {"redis", "postgres"} <= set(SERVICES)


@pytest.mark.parametrize(
    "name",
    sorted(n for n, s in SERVICES.items() if s.get("restart") != "no"),
    ids=sorted(n for n, s in SERVICES.items() if s.get("restart") != "no"),
)
def test_it_gives_every_long_running_service_a_healthcheck(name: str) -> None:
    check = SERVICES[name].get("healthcheck")
    assert check and check.get("test"), f"{name} has no healthcheck"
    test = check["test"]
    if isinstance(test, list) and test[0] == "CMD" and test[1] == "python" and test[2] == "-m":
        __import__(test[3])  # our own health probe exists


def test_it_starts_workers_only_after_the_migration_and_healthy_servers() -> None:
    for name in OURS:
        if name == "migrate":
            assert SERVICES[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
            continue
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name


def test_it_keeps_data_in_declared_volumes() -> None:
    declared = set(_compose()["volumes"])
    used = set()
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used <= declared, f"undeclared volumes {used - declared}"
    assert any("/var/lib/postgresql/data" in v for v in SERVICES["postgres"]["volumes"])
    assert any(":/data" in v for v in SERVICES["redis"]["volumes"])


def test_it_points_every_service_at_postgres_and_redis() -> None:
    for name in OURS:
        env = SERVICES[name]["environment"]
        assert env["MONITOR_DATABASE_URL"].startswith("postgresql://"), name
        assert env["MONITOR_BROKER_URL"] == "redis://redis:6379/0", name
        # Where every worker writes its samples and the dashboard reads them (a shared volume).
        assert env["MONITOR_METRICS_DIR"], name


def test_it_makes_the_exposed_dashboard_ask_for_a_token() -> None:
    # It binds 0.0.0.0, where the dashboard refuses to serve without a login; compose must
    # stop at `up` with the variable's name instead of leaving the service restarting.
    env = SERVICES["dashboard"]["environment"]
    assert env["MONITOR_DASHBOARD_HOST"] == "0.0.0.0"
    assert env["MONITOR_DASHBOARD_TOKEN"].startswith("${MONITOR_DASHBOARD_TOKEN:?")


def test_it_lists_only_real_settings_in_env_example() -> None:
    names = re.findall(r"^#?\s*(MONITOR_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert names
    fields = {f"MONITOR_{field.upper()}" for field in Settings.model_fields}
    pipeline_source = "".join(
        path.read_text() for path in [ROOT / "celeryconfig.py", *ROOT.glob("workers/*.py")]
    )
    unknown = [n for n in names if n not in fields and f'"{n}"' not in pipeline_source]
    assert not unknown, f".env.example names variables nothing reads: {unknown}"


def test_it_reads_compose_variables_from_env_example() -> None:
    compose_vars = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)", COMPOSE.read_text()))
    example = ENV_EXAMPLE.read_text()
    missing = [v for v in compose_vars if not re.search(rf"^#?\s*{v}=", example, re.MULTILINE)]
    assert not missing, f"docker-compose.yml uses variables .env.example does not show: {missing}"


def test_it_builds_an_image_with_every_package_the_services_run() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for needed in ("COPY monitor", "COPY workers", "COPY celeryconfig.py", "pip install ."):
        assert needed in dockerfile


def test_it_passes_docker_compose_config_where_docker_exists(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    has_compose = docker is not None and (
        subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode
        == 0
    )
    if not has_compose:
        # No Docker Compose on our machines: the checks above are the validation here.
        return
    assert docker is not None
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        env={"POSTGRES_PASSWORD": "x", "MONITOR_DASHBOARD_TOKEN": "x", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# -- what a fresh `docker compose up` needs (issue #19) ------------------------------------

# Compose features this file may use, and the Docker Compose release that brought each.
FEATURES = {
    "env_file entries with required:": (2, 24),
    "depends_on with condition:": (2, 0),
    "top-level name:": (2, 0),
}


def _features_used() -> set[str]:
    used = {"top-level name:"} if "name" in _compose() else set()
    for service in SERVICES.values():
        if any(isinstance(e, dict) and "required" in e for e in service.get("env_file", [])):
            used.add("env_file entries with required:")
        depends = service.get("depends_on", {})
        if isinstance(depends, dict) and any("condition" in d for d in depends.values()):
            used.add("depends_on with condition:")
    return used


def test_it_states_the_compose_version_its_features_need() -> None:
    header = COMPOSE.read_text().split("\nname:", 1)[0]
    stated = re.search(r"Docker Compose v(\d+)\.(\d+) or newer", header)
    assert stated, "docker-compose.yml should say which Docker Compose it needs"
    version = (int(stated.group(1)), int(stated.group(2)))
    for feature in _features_used():
        assert version >= FEATURES[feature], f"{feature} needs Compose {FEATURES[feature]}"
    assert _compose()["name"] == "monitor"


def test_it_starts_workers_whether_or_not_the_dashboard_starts() -> None:
    for name in OURS:
        if name == "dashboard":
            continue
        service = SERVICES[name]
        assert "dashboard" not in service.get("depends_on", {}), name
        # Sharing another service's PID namespace makes this one wait for it.
        assert not str(service.get("pid", "")).startswith("service:"), name


def test_it_mounts_a_folder_for_feeds_and_watchlists() -> None:
    # Editors replace a file (write, then rename): a bind mount of the file itself keeps the
    # old one, so the service would never see an edit. Only folders are bind-mounted.
    for name in OURS:
        service = SERVICES[name]
        env = service["environment"]
        mounts = [v.split(":") for v in service["volumes"]]
        binds = {target: source for source, target, *_ in mounts if not source.isidentifier()}
        for source in binds.values():
            assert not source.endswith((".yaml", ".yml")), f"{name}: {source} is a file"
        feeds, watchlists = Path(env["MONITOR_FEEDS"]), Path(env["MONITOR_WATCHLISTS"])
        folder = str(feeds.parent)
        assert folder in binds and str(watchlists.parent) == folder, name
        # The folder mounted by default holds both, as the embedded mode reads them.
        default = re.sub(r"\$\{CONFIG_DIR:-([^}]*)\}", r"\1", binds[folder])
        assert (ROOT / default / feeds.name).is_file() and (
            ROOT / default / watchlists.name
        ).is_dir()


def test_it_lets_the_workers_write_to_the_metrics_volume() -> None:
    # A new named volume takes the owner of the image's folder it is mounted on; without the
    # folder in the image it is root's, and the workers (user monitor) could not write.
    dockerfile = (ROOT / "Dockerfile").read_text()
    metrics = {SERVICES[name]["environment"]["MONITOR_METRICS_DIR"] for name in OURS}
    assert len(metrics) == 1
    folder = metrics.pop()
    assert any(v == f"metrics:{folder}" for v in SERVICES["worker-poll"]["volumes"])
    run = next(line for line in dockerfile.split("RUN ")[1:] if "useradd" in line)
    assert re.search(rf"mkdir -p [^&]*{folder}\b", run)
    assert re.search(rf"chown monitor [^&]*{folder}\b", run)
