"""Fixtures of the store tests: a real S3-protocol server (see tests/s3.py)."""

from tests.s3 import s3_bucket, s3_server

__all__ = ["s3_bucket", "s3_server"]
