"""Fixtures of the scale-out tests: a real S3-protocol server (see tests/s3.py); the real
PostgreSQL server comes from tests/conftest.py."""

from __future__ import annotations

from tests.s3 import s3_bucket, s3_server

__all__ = ["s3_bucket", "s3_server"]
