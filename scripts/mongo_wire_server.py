"""A MongoDB wire-protocol server for tests: mongoeco's proxy over a memory or
SQLite engine. Runs under the separate Python 3.13 venv (scripts/mongo-venv.sh),
never under the project's own interpreter.

    .venv-mongo/bin/python scripts/mongo_wire_server.py --port 0 [--engine sqlite --path FILE]

Prints one line `READY <port>` on stdout once it accepts connections, then
serves until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


def _engine(kind: str, path: str) -> object:
    if kind == "memory":
        from mongoeco.engines.memory import MemoryEngine

        return MemoryEngine()
    from mongoeco.engines.sqlite import SQLiteEngine

    return SQLiteEngine(path)


async def _serve(args: argparse.Namespace) -> None:
    from mongoeco.wire import AsyncMongoEcoProxyServer

    server = AsyncMongoEcoProxyServer(
        engine=_engine(args.engine, args.path),
        host=args.host,
        port=args.port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    address = await server.start()
    print(f"READY {address.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017, help="0 picks a free port")
    parser.add_argument("--engine", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--path", default=":memory:", help="SQLite file (engine sqlite)")
    args = parser.parse_args()
    if sys.version_info < (3, 13):
        parser.error("mongoeco needs Python >= 3.13: run it from .venv-mongo")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
