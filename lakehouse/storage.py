"""The S3 object store seen from Python: an admin client (``minio`` SDK, which speaks to any
S3-compatible server) and bucket creation."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import urllib3
from minio import Minio
from minio.error import S3Error

from lakehouse.settings import Secrets, Settings

log = logging.getLogger(__name__)


def s3_client(settings: Settings, secrets: Secrets) -> Minio:
    """A client for the configured S3 endpoint with the configured credentials."""
    url = urlparse(settings.s3.url)
    return Minio(
        url.netloc,
        access_key=secrets.require("s3_access_key"),
        secret_key=secrets.require("s3_secret_key"),
        secure=settings.s3.secure,
        region=settings.s3.region,
    )


def s3_answers(settings: Settings, secrets: Secrets) -> bool:
    """True when the endpoint answers an authenticated request (ListBuckets)."""
    try:
        s3_client(settings, secrets).list_buckets()
    except (S3Error, OSError, urllib3.exceptions.HTTPError):
        return False
    return True


def ensure_bucket(settings: Settings, secrets: Secrets) -> bool:
    """Create the lake bucket if it does not exist; True if it was created."""
    client = s3_client(settings, secrets)
    if client.bucket_exists(settings.s3.bucket):
        return False
    client.make_bucket(settings.s3.bucket)
    log.info("created bucket %s", settings.s3.bucket)
    return True
