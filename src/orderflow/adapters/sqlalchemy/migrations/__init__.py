"""Alembic environment for the SQL schema. Run through
orderflow.adapters.sqlalchemy.migrate, which configures Alembic in code."""
