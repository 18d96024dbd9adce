"""Every third-party module the code imports comes from a dependency that
pyproject.toml declares (the product's from its runtime dependencies, the
bench's and the tests' from the extras too), never only through another
package's requirements; and the lock pins every declared dependency at a
version the declaration allows."""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.services import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
LOCK = REPO_ROOT / "requirements" / "dev.lock"
FIRST_PARTY = {"orderflow", "tests", "tools"}
# Type checkers' stub-only module, imported under TYPE_CHECKING: nothing to install.
TYPING_ONLY = {"_typeshed"}


def requirements(*groups: str) -> list[Requirement]:
    texts = list(PYPROJECT["dependencies"])
    for group in groups:
        texts += PYPROJECT["optional-dependencies"][group]
    return [Requirement(text) for text in texts]


def imported_top_level_modules(roots: Iterable[Path]) -> dict[str, Path]:
    """Each absolutely imported top-level module, with one file importing it."""
    found: dict[str, Path] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.partition(".")[0], path)
    return found


def undeclared(roots: Iterable[Path], declared: list[Requirement]) -> list[str]:
    names = {canonicalize_name(requirement.name) for requirement in declared}
    providers = packages_distributions()
    problems = []
    for module, path in sorted(imported_top_level_modules(roots).items()):
        if module in sys.stdlib_module_names or module in FIRST_PARTY | TYPING_ONLY:
            continue
        distributions = {canonicalize_name(d) for d in providers.get(module, [])}
        if not distributions & names:
            where = path.relative_to(REPO_ROOT)
            problems.append(f"{module} ({where}) comes from {sorted(distributions) or 'nothing'}")
    return problems


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        spec = line.partition("#")[0].partition(";")[0].strip()
        if spec:
            name, _, version = spec.partition("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_module_the_product_imports_is_a_declared_runtime_dependency() -> None:
    assert undeclared([REPO_ROOT / "src" / "orderflow"], requirements()) == []


def test_every_module_the_bench_and_the_tests_import_is_declared() -> None:
    roots = [REPO_ROOT / "tools", REPO_ROOT / "tests"]
    assert undeclared(roots, requirements("dev", "bench")) == []


def test_the_check_names_a_module_that_arrives_only_through_another_package() -> None:
    # click comes with Flask: declaring Flask alone is not enough.
    flask_only = [r for r in requirements() if canonicalize_name(r.name) != "click"]
    assert [p for p in undeclared([REPO_ROOT / "src"], flask_only) if p.startswith("click ")]


def test_the_lock_pins_every_declared_dependency_within_its_declared_range() -> None:
    pins = locked()
    wrong = []
    for requirement in requirements("dev", "bench"):
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            wrong.append(f"{requirement} locked at {pinned}")
    assert wrong == []
