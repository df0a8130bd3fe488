"""A boto3 S3 client set up to fail fast, and botocore's errors told as modelward's.

The endpoint and credentials come only from the usual `AWS_*` variables, read by
boto3 itself (`AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, profiles...): the only thing
between this code and MinIO, moto or AWS is that `endpoint_url`. A store that
cannot be reached fails within a few seconds (2 s to connect, 3 attempts in
all) instead of hanging on a command.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from modelward.config import S3Location
from modelward.errors import AccessDenied, InvalidInput, ModelwardError, NotFound, Unavailable

CONNECT_TIMEOUT = 2.0  # seconds to open a connection to the object store
READ_TIMEOUT = 60.0  # seconds without a byte on an open connection
MAX_ATTEMPTS = 3  # tries of one request in all (botocore's "standard" retry mode)
_DENIED = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
)
_EXPIRED = frozenset({"ExpiredToken", "TokenRefreshRequired", "RequestExpired"})
# What a client is made from, besides the endpoint: a change makes another client.
_CLIENT_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_clients: dict[tuple[object, ...], Any] = {}
_clients_lock = threading.Lock()


def endpoint_url() -> str | None:
    """The S3 endpoint named by the environment (None: AWS's own)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def make_client(*, max_pool_connections: int = 16) -> Any:
    """A thread-safe boto3 S3 client for the environment's endpoint and credentials,
    shared by the process's stores: making one costs ~0.1 s of CPU (botocore loads
    and parses its service model), which each folder and each round would pay again."""
    key = (
        os.getpid(),  # a forked child makes its own: a client's connections are not shared
        endpoint_url(),
        max_pool_connections,
        *(os.environ.get(name) for name in _CLIENT_VARIABLES),
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _new_client(max_pool_connections)
        return client


def _new_client(max_pool_connections: int) -> Any:
    import boto3
    from botocore.config import Config

    endpoint = endpoint_url()
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=max_pool_connections,
        # a self-hosted store (MinIO, moto) is addressed as host/bucket, not bucket.host
        s3={"addressing_style": "path"} if endpoint else {},
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ClientError (None for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def where(location: S3Location) -> str:
    """`s3://bucket/prefix at ENDPOINT`, for messages."""
    return f"{location.url} at {endpoint_url() or 'AWS'}"


@contextlib.contextmanager
def translated(location: S3Location, doing: str) -> Iterator[None]:
    """Raise botocore's errors met while `doing` as one-line modelward errors."""
    from botocore import exceptions as boto

    try:
        yield
    except (boto.ConnectionError, boto.HTTPClientError) as exc:
        raise Unavailable(
            f"the object store {where(location)} could not be reached while {doing} "
            f"({type(exc).__name__}): check AWS_ENDPOINT_URL and that the store is up"
        ) from None
    except (boto.NoCredentialsError, boto.PartialCredentialsError):
        raise AccessDenied(
            f"no credentials for the object store {where(location)}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
        ) from None
    except boto.ClientError as exc:
        raise from_client_error(location, doing, exc) from None
    except boto.BotoCoreError as exc:
        raise ModelwardError(
            f"the object store {where(location)} failed while {doing}: {' '.join(str(exc).split())}"
        ) from None


def from_client_error(location: S3Location, doing: str, exc: BaseException) -> ModelwardError:
    """The modelward error for an S3 error answer."""
    code = error_code(exc) or "unknown"
    if code == "NoSuchBucket":
        return missing_bucket(location)
    if code in _DENIED or code in _EXPIRED:
        return AccessDenied(
            f"the object store {where(location)} refused the credentials while {doing} ({code}): "
            "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy"
        )
    if code in ("InvalidBucketName", "InvalidArgument"):
        return InvalidInput(f"the object store {where(location)} refused {doing}: {code}")
    message = " ".join(
        str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).split()
    )
    return ModelwardError(
        f"the object store {where(location)} failed while {doing}: {code}"
        + (f": {message}" if message else "")
    )


def missing_bucket(location: S3Location) -> NotFound:
    """The error of a bucket that does not exist: which one, and how to create it."""
    return NotFound(
        f"the bucket {location.bucket!r} does not exist at {endpoint_url() or 'AWS'}: create it "
        f"(`aws s3 mb s3://{location.bucket}`, or `mc mb` on MinIO) or fix MODELWARD_ARTIFACTS"
    )
