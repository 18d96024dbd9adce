"""The external load generator: wrk (Debian's package), driven by Lua scripts
this module writes, reporting through the script's done() hook.

wrk is closed-loop (each connection sends its next request when the last one
is answered), which is what a throughput figure wants; the fixed-rate load
of the end-to-end figure comes from openloop.py instead."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.bench.errors import BenchError

REPORT_PREFIX = "BENCH "

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors, timeouts and answers with a status >= 400

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


def combine(rounds: Sequence[WrkResult]) -> WrkResult:
    """Several rounds as one: requests and time add up; the percentiles are
    the median of the rounds' (wrk reports no histogram to merge), which a
    single disturbed round does not move."""
    if len(rounds) == 1:
        return rounds[0]
    return WrkResult(
        requests=sum(r.requests for r in rounds),
        duration_s=sum(r.duration_s for r in rounds),
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        errors=sum(r.errors for r in rounds),
    )


def ensure_wrk() -> str:
    """The wrk binary, else BenchError saying how to get it. The bench installs
    nothing itself: `make bench` installs Debian's package when it is missing."""
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("the bench needs wrk: run it with `make bench`, or `apt-get install wrk`")
    return found


def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def requests_script(
    method: str,
    items: Sequence[tuple[str, str | None]],
    headers: Mapping[str, str] | None = None,
) -> str:
    """A script cycling through `items` (path, body), each request with
    `headers` too (an API key): each wrk thread starts at a different place
    so that threads do not send the same request."""
    extra = "".join(
        # Spaces inside the brackets: `[[[` would not parse as a long string.
        f"\n  headers[ {_lua_string(name)} ] = {_lua_string(value)}"
        for name, value in (headers or {}).items()
    )
    entries = ",\n".join(
        f"{{{_lua_string(path)}, {'nil' if body is None else _lua_string(body)}}}"
        for path, body in items
    )
    return f"""
local items = {{
{entries}
}}
local prepared = {{}}
local n = 0
init = function(args)
  local headers = {{["Content-Type"] = "application/json"}}{extra}
  for i, item in ipairs(items) do
    prepared[i] = wrk.format("{method}", item[1], headers, item[2])
  end
  n = math.random(#prepared)
end
request = function()
  n = n % #prepared + 1
  return prepared[n]
end
{_DONE}
"""


def run_wrk(
    base_url: str,
    script: str,
    *,
    duration_s: float,
    connections: int,
    threads: int = 1,
    timeout_s: float = 10.0,
) -> WrkResult:
    binary = ensure_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        script_path = Path(handle.name)
    try:
        result = subprocess.run(
            [
                binary,
                f"-t{threads}",
                f"-c{max(connections, threads)}",
                f"-d{max(1, round(duration_s))}s",
                f"--timeout={max(1, round(timeout_s))}s",
                "-s",
                str(script_path),
                base_url,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=duration_s + timeout_s + 60,
        )
    finally:
        script_path.unlink(missing_ok=True)
    for line in result.stdout.splitlines():
        if line.startswith(REPORT_PREFIX):
            report = json.loads(line[len(REPORT_PREFIX) :])
            duration_s = report["duration_us"] / 1e6
            # Nothing answered within the run: each latency is at least its length.
            slowest_ms = duration_s * 1000 if report["requests"] == 0 else None
            return WrkResult(
                requests=report["requests"],
                duration_s=duration_s,
                p50_ms=slowest_ms or report["p50_us"] / 1000,
                p99_ms=slowest_ms or report["p99_us"] / 1000,
                errors=sum(report[k] for k in ("connect", "read", "write", "status", "timeout")),
            )
    raise BenchError(f"wrk reported nothing (exit {result.returncode}): {result.stderr[-2000:]}")
