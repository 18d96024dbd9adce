"""compose.yaml and the Dockerfile are checked here because no Docker engine
runs on the build machines: structure, wiring and configuration names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orderflow.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_runs_the_real_infrastructure_and_every_orderflow_process() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["mysql"]["image"].startswith("mysql:")
    assert "--replSet" in services["mongo"]["command"]
    assert services["redis"]["image"].startswith("redis:")
    for name in ("api", "relay", "worker", "migrate"):
        assert services[name]["build"] == "."
        assert services[name]["command"][0] == "orderflow"


def test_every_orderflow_variable_in_compose_is_a_real_setting() -> None:
    known = {f"ORDERFLOW_{name.upper()}" for name in Settings.model_fields}
    for name in ("api", "relay", "worker", "migrate"):
        env = compose()["services"][name]["environment"]
        assert set(env) <= known, set(env) - known
        Settings.model_validate(
            {
                key.removeprefix("ORDERFLOW_").lower(): str(value).split(":-")[-1].rstrip("}")
                if str(value).startswith("${")
                else value
                for key, value in env.items()
            }
        )


def test_services_wait_for_their_dependencies_to_be_healthy() -> None:
    services = compose()["services"]
    for name in ("kafka", "mysql", "mongo", "redis", "api"):
        assert "healthcheck" in services[name], name
    depends = services["worker"]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_the_dockerfile_installs_the_package_and_runs_the_cli() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install" in text and "COPY src" in text
    assert 'CMD ["orderflow", "api"' in text
