"""Static checks of the deployment and CI files (no Docker engine runs where the suite does).

What users rely on: compose waits on healthy backing services and restarts what dies, the
environment names match the settings the code reads, the image runs as a non-root user with a
health check, and CI installs exactly the locked environment.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import SecretStr, ValidationError

from config.settings import Settings
from tests.contract import CONTRACT_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CI_RUN = ROOT / ".ci" / "run"
ENV_DEV = ROOT / ".env.dev"
ENV_PROD = ROOT / ".env.prod"

# The settings named in ARCHITECTURE.md: the external contract.
CONTRACT = set(CONTRACT_SETTINGS)
BACKING_SERVICES = ("mongo", "redis", "weaviate")
PROD_URLS = {
    "MONGODB_URI": "mongodb://mongo:27017/?replicaSet=rs0",
    "REDIS_URL": "redis://redis:6379/0",
    "WEAVIATE_URL": "http://weaviate:8080",
}
HEALTH_URL = "http://127.0.0.1:8000/health"
SERVE_CMD = ["python", "-m", "bot", "serve", "--host", "0.0.0.0", "--port", "8000"]

# Keys of a compose service that this file may use (a subset of the compose specification);
# a typo such as `depend_on` or `healtcheck` would otherwise be ignored silently by a reader.
COMPOSE_SERVICE_KEYS = {
    "build",
    "command",
    "container_name",
    "depends_on",
    "deploy",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "healthcheck",
    "image",
    "init",
    "labels",
    "logging",
    "networks",
    "ports",
    "profiles",
    "pull_policy",
    "restart",
    "stop_grace_period",
    "ulimits",
    "user",
    "volumes",
    "working_dir",
}
COMPOSE_HEALTHCHECK_KEYS = {
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
}

SETTING_FIELDS = {name.upper() for name in Settings.model_fields}
SECRET_FIELDS = {
    name.upper()
    for name, field in Settings.model_fields.items()
    if SecretStr in (field.annotation, *get_args(field.annotation))
}

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?-(?P<default>[^}]*))?\}")


# ---------------------------------------------------------------------------------- helpers


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _interpolate(value: str) -> str:
    """Resolve `${NAME:-default}` the way compose does when NAME is not exported."""
    return _INTERPOLATION.sub(lambda m: m.group("default") or "", value)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: _interpolate(str(value)) for key, value in env.items()}


def _env_file_entries(service: dict[str, Any]) -> list[tuple[str, bool]]:
    entries = service.get("env_file") or []
    if isinstance(entries, str):
        entries = [entries]
    out = []
    for entry in entries:
        if isinstance(entry, str):
            out.append((entry, True))
        else:
            out.append((entry["path"], bool(entry.get("required", True))))
    return out


def _read_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """Set keys with their values, and keys documented only as `# KEY=` comments."""
    values: dict[str, str] = {}
    commented: set[str] = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if match := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=.*", line):
            commented.add(match.group(1))
        elif line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {raw!r}"
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"{path.name}: bad name {raw!r}"
            assert key not in values, f"{path.name}: {key} set twice"
            values[key] = value
    return values, commented


def _clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Process variables win over the profile file: drop any that the host has set."""
    for name in SETTING_FIELDS:
        monkeypatch.delenv(name, raising=False)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def _dockerfile_args() -> dict[str, str]:
    args = {}
    for keyword, rest in _dockerfile_instructions():
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
    return args


def _exec_form(args: str) -> list[str]:
    value = yaml.safe_load(args)  # JSON exec form is valid YAML
    assert isinstance(value, list), f"not exec form: {args}"
    return [str(v) for v in value]


# ---------------------------------------------------------------------------------- compose


def test_compose_has_the_services_and_only_known_keys() -> None:
    services = _services()
    assert {"app", "worker", *BACKING_SERVICES} <= services.keys()
    for name, service in services.items():
        unknown = set(service) - COMPOSE_SERVICE_KEYS
        assert not unknown, f"{name}: unknown compose keys {unknown}"
        assert "image" in service or "build" in service, name
        if "healthcheck" in service:
            assert set(service["healthcheck"]) <= COMPOSE_HEALTHCHECK_KEYS, name
    assert "version" not in _compose(), "the top-level `version` key is obsolete"


def test_every_service_has_a_healthcheck() -> None:
    for name, service in _services().items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if check.get("disable"):
            # Only the worker may opt out: it serves no HTTP, so the image's check does not fit.
            assert name == "worker", f"{name} disables its healthcheck"
            continue
        test = check["test"]
        assert isinstance(test, list), name
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert check.get("interval"), name
        assert check.get("retries"), name


def test_app_and_worker_wait_for_healthy_backing_services() -> None:
    services = _services()
    for name in ("app", "worker"):
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for backing in BACKING_SERVICES:
            assert depends[backing]["condition"] == "service_healthy", (name, backing)
        # Never wait on a service that only exists under a profile.
        for dep in depends:
            assert "profiles" not in services[dep], (name, dep)


def test_restart_policies() -> None:
    for name, service in _services().items():
        assert service.get("restart") == "unless-stopped", name


def test_app_serves_on_8000_and_worker_can_be_scaled() -> None:
    services = _services()
    app, worker = services["app"], services["worker"]
    assert any(str(port).endswith("8000:8000") for port in app["ports"])
    assert app.get("command", SERVE_CMD) == SERVE_CMD
    assert worker["command"] == ["python", "-m", "bot", "worker"]
    # `docker compose up --scale worker=N` breaks on a fixed name or a published port.
    assert "container_name" not in worker
    assert "ports" not in worker
    # Same image as the app.
    assert worker.get("build") == app.get("build") == "."
    assert worker.get("image") == app.get("image")


def test_app_health_probe_targets_the_liveness_endpoint() -> None:
    test = _services()["app"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert HEALTH_URL in test[3]
    compile(test[3], "<compose app healthcheck>", "exec")


def test_backing_services_keep_their_data_in_named_volumes() -> None:
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    for name in (*BACKING_SERVICES, "app"):
        volumes = compose["services"][name].get("volumes") or []
        named = {str(v).split(":", 1)[0] for v in volumes}
        assert named, f"{name} keeps no data"
        assert named <= declared, f"{name}: undeclared volumes {named - declared}"


def test_mongo_is_a_single_node_replica_set_that_initiates_itself() -> None:
    mongo = _services()["mongo"]
    assert mongo["image"].startswith("mongo:7")
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    probe = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in probe
    assert "_id: 'rs0'" in probe
    assert "mongo:27017" in probe


def test_redis_appends_only_and_answers_ping() -> None:
    redis = _services()["redis"]
    assert redis["image"].split(":")[0] in {"redis", "valkey/valkey"}
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "ping" in " ".join(redis["healthcheck"]["test"]).lower()


def test_weaviate_has_no_vectorizer_and_a_readiness_probe() -> None:
    weaviate = _services()["weaviate"]
    assert "semitechnologies/weaviate:" in weaviate["image"]
    assert weaviate["environment"]["DEFAULT_VECTORIZER_MODULE"] == "none"
    assert "/v1/.well-known/ready" in " ".join(weaviate["healthcheck"]["test"])


def test_optional_llm_server_only_under_its_profile() -> None:
    services = _services()
    llm = [s for s in services.values() if "llm" in (s.get("profiles") or [])]
    assert llm, "no service under the optional `llm` profile"
    for name in ("app", "worker", *BACKING_SERVICES):
        assert "profiles" not in services[name], name


def test_images_are_pinned() -> None:
    for name, service in _services().items():
        image = service.get("image")
        if image is None or "build" in service:
            continue
        _, _, tag = image.rpartition("/")[2].partition(":")
        assert tag not in {"", "latest"}, f"{name}: pin {image!r} to a version"


def test_app_environment_matches_settings_and_prod_profile() -> None:
    prod_values, _ = _read_env_file(ENV_PROD)
    for name in ("app", "worker"):
        service = _services()[name]
        env = _environment(service)
        assert set(env) <= SETTING_FIELDS, f"{name}: unknown settings {set(env) - SETTING_FIELDS}"
        assert env.get("APP_ENV") == "prod"
        for key, url in PROD_URLS.items():
            assert env[key] == url == prod_values[key], (name, key)
        files = _env_file_entries(service)
        assert (".env.prod", True) in files, f"{name} does not read .env.prod"
        for path, required in files:
            if required:
                assert (ROOT / path).is_file(), f"{name}: {path} missing"


# ---------------------------------------------------------------------------------- env files


@pytest.mark.parametrize("path", [ENV_DEV, ENV_PROD], ids=lambda p: p.name)
def test_env_file_names_are_settings(path: Path) -> None:
    values, commented = _read_env_file(path)
    named = set(values) | commented
    assert named <= SETTING_FIELDS, f"{path.name}: not settings: {named - SETTING_FIELDS}"
    assert named >= CONTRACT, f"{path.name}: missing {CONTRACT - named}"


@pytest.mark.parametrize("path", [ENV_DEV, ENV_PROD], ids=lambda p: p.name)
def test_env_files_hold_no_secrets(path: Path) -> None:
    values, _ = _read_env_file(path)
    for key in SECRET_FIELDS | {"TWILIO_ACCOUNT_SID"}:
        assert values.get(key, "") == "", f"{path.name}: {key} must not be committed"
    # An empty value for an optional secret parses as an empty SecretStr, not as unset.
    for key in SECRET_FIELDS - {"JWT_SECRET"}:
        assert key not in values, f"{path.name}: leave {key} commented out instead of empty"


def test_dev_profile_is_the_embedded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_settings_env(monkeypatch)
    settings = Settings(_env_file=ENV_DEV)
    assert settings.app_env == "dev"
    assert settings.mongodb_uri is None
    assert settings.redis_url is None
    assert settings.weaviate_url is None
    assert settings.embedded
    assert not settings.llm_configured
    assert settings.openai_api_key is None
    assert settings.sentry_dsn is None
    assert settings.data_dir == Path("data")


def test_prod_profile_refuses_to_start_without_a_jwt_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clean_settings_env(monkeypatch)
    with pytest.raises(ValidationError, match=r"(?i)jwt_secret"):
        Settings(_env_file=ENV_PROD)


def test_prod_profile_points_at_the_compose_services(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_settings_env(monkeypatch)
    monkeypatch.setenv("JWT_SECRET", "a-real-secret-from-the-deployment-" + "x" * 16)
    settings = Settings(_env_file=ENV_PROD)
    assert settings.app_env == "prod"
    assert settings.mongodb_uri == PROD_URLS["MONGODB_URI"]
    assert settings.redis_url == PROD_URLS["REDIS_URL"]
    assert settings.weaviate_url == PROD_URLS["WEAVIATE_URL"]
    assert not settings.embedded
    assert settings.json_logs
    assert settings.pii_redaction
    assert settings.data_dir == Path("/data")


# ---------------------------------------------------------------------------------- Dockerfile


def test_dockerfile_bases_are_pinned_python_slim() -> None:
    build_args = _dockerfile_args()
    froms = [args for keyword, args in _dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) >= 2, "expected a multi-stage build"
    for args in froms:
        image = args.split()[0]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: build_args.get(m.group(1), m.group(0)), image)
        assert image.startswith("python:3.11-slim"), image
        assert not image.endswith(":latest"), image


def test_dockerfile_installs_the_locked_environment_with_uv() -> None:
    build = _stages()[0]
    runs = [args for keyword, args in build if keyword == "RUN"]
    assert any(re.search(r"pip install .*\buv\b", run) for run in runs)
    deps_only = next(
        i
        for i, (k, a) in enumerate(build)
        if k == "RUN" and "uv sync --frozen --no-dev --no-install-project" in a
    )
    project = next(
        i
        for i, (k, a) in enumerate(build)
        if k == "RUN" and "uv sync --frozen --no-dev" in a and "--no-install-project" not in a
    )
    copies_source = [
        i for i, (k, a) in enumerate(build) if k == "COPY" and re.match(r"(--\S+\s+)*(bot|\.)\s", a)
    ]
    assert copies_source, "no COPY of the source"
    assert deps_only < min(copies_source) < project


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for keyword, args in _dockerfile_instructions():
        if keyword != "COPY" or "--from=" in args:
            continue
        *sources, _dest = [part for part in shlex.split(args) if not part.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set(DOCKERIGNORE.read_text(encoding="utf-8").split())
    assert {".git", ".venv", ".env", ".env.*", "data", "tests"} <= ignored


def test_runtime_stage_runs_as_non_root_with_healthcheck_and_serve() -> None:
    runtime = _stages()[-1]
    keywords = [keyword for keyword, _ in runtime]
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # The user is switched before the process starts, and nothing runs as root afterwards.
    last_user = max(i for i, k in enumerate(keywords) if k == "USER")
    assert "RUN" not in keywords[last_user:]

    (health,) = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert HEALTH_URL in health
    assert "curl" not in health
    assert "wget" not in health
    probe = _exec_form(health.split("CMD", 1)[1].strip())
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "<Dockerfile HEALTHCHECK>", "exec")

    (cmd,) = [args for keyword, args in runtime if keyword == "CMD"]
    assert _exec_form(cmd) == SERVE_CMD
    assert any(k == "EXPOSE" and "8000" in a.split() for k, a in runtime)
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    assert re.search(r"\bAPP_ENV=prod\b", env)


# ---------------------------------------------------------------------------------- CI


def test_ci_run_is_an_executable_bash_script() -> None:
    assert CI_RUN.is_file()
    mode = CI_RUN.stat().st_mode
    assert mode & stat.S_IXUSR, ".ci/run must be executable (git update-index --chmod=+x)"
    text = CI_RUN.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n") or text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text
    result = subprocess.run(
        ["bash", "-n", str(CI_RUN)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_ci_run_installs_the_lock_and_fails_fast_in_order() -> None:
    text = CI_RUN.read_text(encoding="utf-8")
    # Commands at the start of a line, in the order they must run.
    steps = [
        r"^\s*apt-get update\b",
        r"^\s*apt-get install\b",
        r"\bpip install\b.*\buv\b",
        r"^uv sync --frozen\b",
        r"^uv run ruff check \.",
        r"^uv run mypy\b",
        r"^uv run lint-imports\b",
        r"^uv run pytest\b",
    ]
    positions = []
    for step in steps:
        match = re.search(step, text, flags=re.MULTILINE)
        assert match, f"missing step {step}"
        positions.append(match.start())
    assert positions == sorted(positions), "steps out of order"
    assert re.search(r"^apt_packages=\(.*\bchromium\b", text, flags=re.MULTILINE)
    assert "PLAYWRIGHT_CHROMIUM_EXECUTABLE" in text
    assert "/usr/bin/chromium" in text
    assert re.search(r'"\$rc" -eq 5', text), "pytest exit code 5 (no tests) must fail CI"


def test_ci_run_is_committed_executable() -> None:
    """A clean clone gets the mode git stores, not the one on this disk."""
    result = subprocess.run(
        ["git", "ls-files", "-s", ".ci/run"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not result.stdout:
        pytest.skip("not inside a git checkout with .ci/run tracked")
    assert result.stdout.split()[0] == "100755"


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="only meaningful on CI")
def test_ci_browser_is_where_the_tests_look() -> None:
    assert Path(os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE", "/usr/bin/chromium")).is_file()
