"""Alembic migrations of the metadata schema (applied automatically on first use)."""
