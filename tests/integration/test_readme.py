"""The README, run as a newcomer runs it: every fenced block marked with
`<!-- readme-test: NAME -->` is extracted and executed as written, from the
top of the checkout. The one change: port 4000 becomes a free port, so a
`make serve` someone left running does not answer in the test's place.

- journey: the curl walk-through against `make serve PORT=...` (a fresh
  SQLite database in a temporary XDG_DATA_HOME).
- library: the Python snippet, in an empty directory with no ORDERFLOW_*
  variables set (a fresh database).
- infrastructure, then infrastructure-stop: the test services started by
  `scripts/services.sh --detach`, then `orderflow migrate`, `seed`, `api`,
  `relay` and two `worker`s as OS processes, until an order completes.

Every curl of a block goes through a shell function that records the HTTP
status of each call; the test then checks them: a 5xx, or a placement that
is not a 201, fails it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import free_port
from tests.support.stack import http_call

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- readme-test: ([\w-]+) -->\n```(\w+)\n(.*?)\n```", re.DOTALL)

# Records "<status> <method> <url>" of each call in $CURL_LOG, prints the body.
CURL_RECORDER = r"""
curl() {
  local out code method=GET url=
  for arg in "$@"; do
    case "$arg" in POST|PUT|DELETE) method=$arg ;; *localhost:*) url=$arg ;; esac
  done
  out=$(command curl -sS -w '\n%{http_code}' "$@") || return $?
  code=${out##*$'\n'}
  printf '%s\n' "${out%$'\n'*}"
  echo "$code $method $url" >> "$CURL_LOG"
  [[ $code -lt 500 ]]
}
"""


def readme_blocks() -> dict[str, tuple[str, str]]:
    """Name -> (language, text) of every marked block."""
    return {name: (lang, text) for name, lang, text in BLOCK.findall(README.read_text())}


def block(name: str, port: int) -> str:
    _, text = readme_blocks()[name]
    return text.replace(":4000", f":{port}").replace("--port 4000", f"--port {port}")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: no ORDERFLOW_* configuration,
    the project's virtual environment first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env | extra


def run_bash(
    script: str, env: dict[str, str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """`script` under bash -e in its own process group, which is ended
    afterwards whatever happened (background jobs included)."""
    process = subprocess.Popen(
        ["bash", "-e", "-c", CURL_RECORDER + script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"the README block did not finish in {timeout_s:.0f} s:\n{out}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


def calls(log: Path) -> list[tuple[int, str, str]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [
        (int(code), method, url) for code, method, url in (line.split(" ", 2) for line in lines)
    ]


def test_the_readme_marks_every_runnable_block_it_promises() -> None:
    assert set(readme_blocks()) == {"journey", "library", "infrastructure", "infrastructure-stop"}
    assert README.read_text().startswith("# orderflow\n\n```sh\nmake serve")
    first = README.read_text().split("```")[1]
    assert [line.split()[:2] for line in first.strip().splitlines()[1:]] == [
        ["make", "serve"],
        ["make", "test"],
    ]


@pytest.fixture
def make_serve(tmp_path: Path) -> Iterator[int]:
    """`make serve PORT=<free>` with its own (empty) data directory."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"PORT={port}"],
        cwd=ROOT,
        env=clean_env(XDG_DATA_HOME=str(tmp_path / "data")),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if http_call("GET", f"http://127.0.0.1:{port}/ready", timeout_s=2)[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        else:
            pytest.fail(
                "make serve was not ready in 60 s:\n" + (tmp_path / "serve.log").read_text()
            )
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
        log.close()


def test_the_curl_journey_works_against_make_serve(make_serve: int, tmp_path: Path) -> None:
    log = tmp_path / "curl.log"
    result = run_bash(block("journey", make_serve), clean_env(CURL_LOG=str(log)), 60)
    assert result.returncode == 0, result.stdout
    made = calls(log)
    assert [c for c in made if c[0] >= 500] == [], made
    placements = [code for code, method, url in made if method == "POST" and "cancel" not in url]
    assert placements == [201, 201], made
    reads = [code for code, method, _ in made if method == "GET"]
    assert reads and set(reads) == {200}, made
    # The order is pending, processing or completed by then: cancelled either way.
    assert next(code for code, _, url in made if url.endswith("/cancel")) == 200
    assert '"status":"pending"' in result.stdout.replace(" ", ""), result.stdout


def test_the_library_snippet_works_on_a_fresh_database(tmp_path: Path) -> None:
    lang, text = readme_blocks()["library"]
    assert lang == "python"
    script = tmp_path / "snippet.py"
    script.write_text(text)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = result.stdout.strip().splitlines()[-2:]
    assert first.split()[1:] == ["pending", "999.00"], result.stdout
    assert second == "pending 999.00", result.stdout
    assert (tmp_path / "shop.sqlite3").exists()


def test_the_real_infrastructure_sequence_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "curl.log"
    state = tmp_path / "services.json"
    env = clean_env(CURL_LOG=str(log), ORDERFLOW_SERVICES_STATE=str(state))
    script = block("infrastructure", port) + "\n" + block("infrastructure-stop", port)
    try:
        result = run_bash(script, env, 240)
    finally:
        if state.exists():  # the block failed before its own stop
            subprocess.run(
                ["bash", "scripts/services.sh", "stop"], cwd=ROOT, env=env, timeout=60, check=False
            )
    assert result.returncode == 0, result.stdout
    assert "seeded 12 products" in result.stdout, result.stdout
    made = calls(log)
    assert [c for c in made if c[0] >= 500] == [], made
    assert [code for code, method, _ in made if method == "POST"] == [201], made
    assert '"status":"completed"' in result.stdout.replace(" ", ""), result.stdout
    assert not state.exists(), "scripts/services.sh stop left its state file"
