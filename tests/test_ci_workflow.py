"""The GitHub Actions workflow and the compose file, checked against their published schemas.

The schemas come from the `check-jsonschema` package's bundled copies (SchemaStore's
GitHub-workflow schema, the Compose specification), so nothing is downloaded at test time.
Beyond the schema: what the workflow must do for users — run `.ci/run` on every push and pull
request, cache dependencies, build the image, and push it to GHCR only for a version tag.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
COMPOSE = ROOT / "docker-compose.yml"


def _vendored_schema(name: str) -> dict[str, Any]:
    files = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((files / name).read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def _workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True; GitHub reads "on".
    if True in data:
        data["on"] = data.pop(True)
    return data


def _schema_errors(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps = job["steps"]
    assert isinstance(steps, list)
    return steps


def _step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    found = [s for s in _steps(job) if str(s.get("uses", "")).startswith(f"{action}@")]
    assert found, f"no step uses {action}"
    return found[0]


# ---------------------------------------------------------------------------------- schema


def test_workflow_matches_the_github_workflow_schema() -> None:
    errors = _schema_errors(_workflow(), _vendored_schema("github-workflows.json"))
    assert not errors, "\n".join(errors)


def test_the_schema_check_catches_a_broken_workflow() -> None:
    """A typo GitHub would reject (an unknown job key, a step with neither run nor uses)."""
    broken = _workflow()
    job = broken["jobs"]["checks"]
    job["runs_on"] = job.pop("runs-on")
    job["steps"].append({"name": "nothing to do"})
    errors = _schema_errors(broken, _vendored_schema("github-workflows.json"))
    assert errors


def test_compose_file_matches_the_compose_specification() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    errors = _schema_errors(compose, _vendored_schema("compose-spec.json"))
    assert not errors, "\n".join(errors)


# ---------------------------------------------------------------------------------- behaviour


def test_runs_on_every_push_pull_request_and_version_tag() -> None:
    on = _workflow()["on"]
    assert "pull_request" in on
    push = on["push"]
    assert "**" in push["branches"]
    assert any(tag.startswith("v") for tag in push["tags"])


def test_checks_job_runs_ci_run_on_the_machine_it_expects() -> None:
    job = _workflow()["jobs"]["checks"]
    runs = [str(s.get("run", "")) for s in _steps(job)]
    assert "bash .ci/run" in runs, "the workflow must run exactly what .ci/run runs"
    # .ci/run is written for Debian 12, root, Python 3.11 (as the Dockerfile's base).
    assert job["container"]["image"].startswith("python:3.11-slim-bookworm")
    checkout = next(i for i, s in enumerate(_steps(job)) if "actions/checkout" in s.get("uses", ""))
    ci_run = runs.index("bash .ci/run")
    assert checkout < ci_run


def test_uv_downloads_are_cached_by_the_lock_file() -> None:
    job = _workflow()["jobs"]["checks"]
    cache = _step_using(job, "actions/cache")
    assert cache["with"]["path"] == job["env"]["UV_CACHE_DIR"]
    assert "hashFiles('uv.lock')" in cache["with"]["key"]
    steps = _steps(job)
    assert steps.index(cache) < [str(s.get("run", "")) for s in steps].index("bash .ci/run")


def test_image_is_built_with_buildx_and_cached() -> None:
    job = _workflow()["jobs"]["image"]
    assert "checks" in ([job["needs"]] if isinstance(job["needs"], str) else job["needs"])
    _step_using(job, "docker/setup-buildx-action")
    build = _step_using(job, "docker/build-push-action")
    assert build["with"]["context"] == "."
    assert build["with"]["cache-from"].startswith("type=gha")
    assert build["with"]["cache-to"].startswith("type=gha")


def test_image_is_pushed_to_ghcr_only_for_a_version_tag() -> None:
    workflow = _workflow()
    job = workflow["jobs"]["image"]
    on_tag = "startsWith(github.ref, 'refs/tags/v')"
    assert job["permissions"]["packages"] == "write"
    assert workflow["env"]["IMAGE"].startswith("ghcr.io/")
    login = _step_using(job, "docker/login-action")
    assert login["with"]["registry"] == "ghcr.io"
    assert on_tag in login["if"]
    build = _step_using(job, "docker/build-push-action")
    assert on_tag in str(build["with"]["push"])
    meta = _step_using(job, "docker/metadata-action")
    tags = meta["with"]["tags"]
    assert "type=ref,event=tag" in tags, "the image gets the git tag itself"
    latest = next(line for line in tags.splitlines() if "value=latest" in line)
    assert on_tag in latest, "`latest` moves only on a version tag"
    assert build["with"]["tags"] == "${{ steps.meta.outputs.tags }}"


@pytest.mark.parametrize("job", ["checks", "image"])
def test_jobs_have_a_timeout(job: str) -> None:
    assert int(_workflow()["jobs"][job]["timeout-minutes"]) <= 60
