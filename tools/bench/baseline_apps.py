"""The baselines' bare Flask endpoints, served the conventional way (gunicorn,
sync workers, one per core): each does the least its figure's work needs.

- insert_app: POST /orders parses the JSON body, does one INSERT + COMMIT into
  the bench database, answers 201 with the new id.
- redis_app: GET /orders/<id> does one Redis GET of `order:<id>` and answers
  the stored JSON as it is.
- search_app: GET /products?search= runs the count and the page of a naive
  case-insensitive LIKE search, as SQL written by hand would.

Their settings come from BENCH_DATABASE_URL and BENCH_REDIS_URL. A sync
worker serves one request at a time, so each process holds one connection."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import pymysql
import redis
from flask import Flask, Response, request
from sqlalchemy.engine import make_url

BASELINE_TABLE = "bench_baseline"
BASELINE_TABLE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} ("
    "id VARCHAR(36) NOT NULL PRIMARY KEY, body JSON NOT NULL, created_at DATETIME(6) NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
)


def mysql_connect(url: str, *, local_infile: bool = False) -> pymysql.connections.Connection[Any]:
    parsed = make_url(url)
    return pymysql.connect(
        local_infile=local_infile,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
        database=parsed.database,
        charset="utf8mb4",
        autocommit=False,
    )


class _Lazy:
    """One connection per worker process, made on first use (after the fork)."""

    def __init__(self) -> None:
        self.mysql: pymysql.connections.Connection[Any] | None = None
        self.redis: redis.Redis | None = None

    def db(self) -> pymysql.connections.Connection[Any]:
        if self.mysql is None:
            self.mysql = mysql_connect(os.environ["BENCH_DATABASE_URL"])
        return self.mysql

    def cache(self) -> redis.Redis:
        if self.redis is None:
            self.redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
        return self.redis


def insert_app() -> Flask:
    app = Flask("bench-insert")
    lazy = _Lazy()

    @app.post("/orders")
    def place() -> tuple[dict[str, str], int]:
        body = request.get_json()
        order_id = str(uuid.uuid4())
        connection = lazy.db()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {BASELINE_TABLE} (id, body, created_at) VALUES (%s, %s, %s)",
                (order_id, json.dumps(body), datetime.now(UTC).replace(tzinfo=None)),
            )
        connection.commit()
        return {"id": order_id}, 201

    return app


def redis_app() -> Flask:
    app = Flask("bench-redis")
    lazy = _Lazy()

    @app.get("/orders/<order_id>")
    def get(order_id: str) -> Response:
        raw: Any = lazy.cache().get(f"order:{order_id}")
        if raw is None:
            return Response('{"error":"not found"}', 404, mimetype="application/json")
        return Response(raw, mimetype="application/json")

    return app


def search_app() -> Flask:
    app = Flask("bench-search")
    lazy = _Lazy()

    @app.get("/products")
    def search() -> dict[str, Any]:
        text = request.args.get("search", "")
        limit = int(request.args.get("limit", "20"))
        pattern = "%" + text.lower().replace("%", r"\%").replace("_", r"\_") + "%"
        where = "lower(name) LIKE %s OR lower(description) LIKE %s"
        connection = lazy.db()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM products WHERE {where}", (pattern, pattern))
            row = cursor.fetchone()
            total = row[0] if row else 0
            cursor.execute(
                f"SELECT id, name, description, price, stock FROM products WHERE {where} "
                "ORDER BY name, id LIMIT %s",
                (pattern, pattern, limit),
            )
            items = [
                {"id": r[0], "name": r[1], "description": r[2], "price": str(r[3]), "stock": r[4]}
                for r in cursor.fetchall()
            ]
        connection.rollback()  # end the read's transaction
        return {"items": items, "total": total}

    return app
