"""The layering rules of docs/ARCHITECTURE.md, read from the source itself:
what each layer may import, and the habits the use cases must not have."""

from __future__ import annotations

import ast
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "orderflow"
PURE_LAYERS = ("domain", "application", "ports")
# What each pure layer may import from orderflow itself.
ALLOWED_INSIDE = {
    "domain": ("orderflow.domain",),
    "ports": ("orderflow.domain", "orderflow.ports"),
    "application": ("orderflow.domain", "orderflow.ports", "orderflow.application"),
}
# Infrastructure the use cases must not hold (it belongs in adapters).
INFRASTRUCTURE = {"threading", "concurrent", "multiprocessing", "asyncio", "sched", "queue"}


def modules(layer: str) -> Iterator[Path]:
    yield from sorted((PACKAGE / layer).rglob("*.py"))


def imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_the_pure_layers_import_only_the_standard_library_and_inner_layers(layer: str) -> None:
    offending = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in modules(layer)
        for name in imports(path)
        if not (name.split(".")[0] in sys.stdlib_module_names and name.split(".")[0] != "orderflow")
        and not name.startswith(ALLOWED_INSIDE[layer])
    ]
    assert offending == []


@pytest.mark.parametrize("layer", ["domain", "application"])
def test_the_model_and_the_use_cases_hold_no_threads_locks_or_queues(layer: str) -> None:
    offending = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in modules(layer)
        for name in imports(path)
        if name.split(".")[0] in INFRASTRUCTURE
    ]
    assert offending == []


def test_no_use_case_probes_an_adapter_with_getattr_or_hasattr() -> None:
    probes = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in modules("application")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr")
    ]
    assert probes == []


def test_the_entrypoints_import_no_adapter() -> None:
    offending = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in modules("entrypoints")
        for name in imports(path)
        if name.startswith("orderflow.adapters")
    ]
    assert offending == []


def test_only_the_composition_root_imports_adapters_outside_the_adapters() -> None:
    outside = [
        path.relative_to(PACKAGE)
        for path in sorted(PACKAGE.rglob("*.py"))
        if "adapters" not in path.relative_to(PACKAGE).parts
        and any(name.startswith("orderflow.adapters") for name in imports(path))
    ]
    assert [str(path) for path in outside] == ["bootstrap.py", "containers.py"]


def test_the_container_builds_each_singleton_once_whatever_threads_race() -> None:
    # Request threads resolve the services on first use; a plain Singleton
    # races there (dependency-injector documents it as not thread-safe).
    tree = ast.parse((PACKAGE / "containers.py").read_text())
    plain = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("Singleton", "DelegatedSingleton")
        and isinstance(node.value, ast.Name)
        and node.value.id == "providers"
    ]
    assert plain == []


def test_a_thread_safe_singleton_gives_racing_threads_one_object() -> None:
    from dependency_injector import providers

    barrier = threading.Barrier(16)
    built: set[int] = set()

    def slow() -> object:
        time.sleep(0.002)  # long enough for every racing thread to get in
        return object()

    provider = providers.ThreadSafeSingleton(slow)

    def resolve() -> None:
        barrier.wait()
        built.add(id(provider()))

    threads = [threading.Thread(target=resolve) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1
