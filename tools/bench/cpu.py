"""CPU seconds of every process of the stack over a measured window, so that
each figure can say what one order cost each process, and a regression
shows where it went. Read with psutil (user + system time of a process and
of its live children: granian's workers are children of `orderflow api`).

The servers the machine provides (MariaDB, Redis) are shared with anything
else that runs here: their share is an upper bound."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psutil


def _seconds(process: psutil.Process) -> float:
    total = 0.0
    for member in (process, *process.children(recursive=True)):
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def listening_pid(port: int) -> int | None:
    """The process listening on a local TCP port (a service the bench did not start)."""
    for connection in psutil.net_connections(kind="tcp"):
        if (
            connection.status == psutil.CONN_LISTEN
            and connection.laddr
            and connection.laddr.port == port
            and connection.pid is not None
        ):
            return connection.pid
    return None


@dataclass(frozen=True, slots=True)
class CpuReading:
    seconds: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class CpuMeter:
    """Named processes to read; a process that has gone reads as 0."""

    pids: Mapping[str, int]

    def read(self) -> CpuReading:
        seconds: dict[str, float] = {}
        for name, pid in self.pids.items():
            try:
                seconds[name] = _seconds(psutil.Process(pid))
            except psutil.NoSuchProcess:
                seconds[name] = 0.0
        return CpuReading(seconds)


def per_order_ms(before: CpuReading, after: CpuReading, orders: int) -> dict[str, float]:
    """Milliseconds of CPU per order, by process, between two readings (a
    process that started in between counts from 0)."""
    return {
        name: 1000 * (spent - before.seconds.get(name, 0.0)) / max(orders, 1)
        for name, spent in after.seconds.items()
    }


def add_up(readings: list[tuple[CpuReading, CpuReading]]) -> tuple[CpuReading, CpuReading]:
    """Several windows as one: the spans between each pair, summed."""
    total: dict[str, float] = {}
    for before, after in readings:
        for name, spent in after.seconds.items():
            total[name] = total.get(name, 0.0) + spent - before.seconds.get(name, 0.0)
    return CpuReading({name: 0.0 for name in total}), CpuReading(total)


def cpu_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """A markdown table: one row per phase, one column per process."""
    names = sorted({name for row in rows.values() for name in row})
    lines = [
        "| CPU ms per order | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for phase, row in rows.items():
        cells = " | ".join(f"{row[name]:.3f}" if name in row else "-" for name in names)
        lines.append(f"| {phase} | {cells} |")
    return "\n".join(lines)
