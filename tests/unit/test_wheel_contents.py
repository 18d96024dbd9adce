"""The wheel is the product only: the orderflow package with its data files
(migrations, the dashboard, the demo catalog), and neither the bench
(tools/bench) nor the test support (tests/support)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import PurePosixPath

import pytest

from tests.support.services import REPO_ROOT

PRODUCT = REPO_ROOT / "src" / "orderflow"
# What a checkout holds besides its sources: never part of a build.
NOT_SOURCES = shutil.ignore_patterns(
    ".*", "__pycache__", "*.egg-info", "build", "dist", "var", "node_modules"
)
PACKAGE_DATA = (
    "orderflow/py.typed",
    "orderflow/adapters/sqlalchemy/migrations/env.py",
    "orderflow/adapters/sqlalchemy/migrations/script.py.mako",
    "orderflow/adapters/sqlalchemy/migrations/versions/0001_initial_schema.py",
    "orderflow/entrypoints/demo_catalog.json",
    "orderflow/entrypoints/http/dashboard/index.html",
    "orderflow/entrypoints/http/dashboard/static/favicon.svg",
    "orderflow/entrypoints/http/dashboard/static/css/shop.css",
    "orderflow/entrypoints/http/dashboard/static/js/main.js",
    "orderflow/entrypoints/http/dashboard/static/js/views/shop.js",
)


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The file names inside `pip wheel . --no-deps`, built from a copy of
    the checkout (so the build leaves nothing in it) with the installed
    setuptools (so it needs no network)."""
    work = tmp_path_factory.mktemp("wheel")
    checkout, out = work / "checkout", work / "out"
    shutil.copytree(REPO_ROOT, checkout, ignore=NOT_SOURCES)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(checkout),
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = out.glob("orderflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def modules(names: list[str]) -> list[PurePosixPath]:
    return [PurePosixPath(name) for name in names if name.endswith(".py")]


def test_the_wheel_holds_the_orderflow_package_and_its_metadata_only(
    wheel_files: list[str],
) -> None:
    tops = {PurePosixPath(name).parts[0] for name in wheel_files}
    assert tops == {"orderflow", "orderflow-0.1.0.dist-info"}


def test_no_module_of_the_bench_or_the_test_support_is_in_the_wheel(
    wheel_files: list[str],
) -> None:
    dev_only = {"bench", "testing", "support", "tests", "tools"}
    leaked = [path for path in modules(wheel_files) if dev_only & {p.lower() for p in path.parts}]
    assert leaked == []
    assert not [path for path in modules(wheel_files) if "bench" in str(path).lower()]


def test_the_product_data_files_are_in_the_wheel(wheel_files: list[str]) -> None:
    assert [name for name in PACKAGE_DATA if name not in wheel_files] == []


def test_every_file_of_the_product_sources_is_in_the_wheel(wheel_files: list[str]) -> None:
    sources = {
        path.relative_to(PRODUCT.parent).as_posix()
        for path in PRODUCT.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert sorted(sources - set(wheel_files)) == []
