"""Relational storage through SQLAlchemy Core: SQLite (embedded mode),
MySQL/MariaDB (PyMySQL) and PostgreSQL (psycopg 3). The schema is owned by the
Alembic migrations in `migrations/`, applied with `migrate.upgrade(url)`."""
