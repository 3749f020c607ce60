"""Where outputs go: a local directory or an object-store URL (``s3://bucket/prefix``, ``gs://``, ``az://``).

Object stores are reached through fsspec: s3fs for S3 and S3-compatible servers, gcsfs and adlfs (installed
separately) for the others, one API for all three, and the same filesystems polars, pandas and DuckDB accept.
S3 credentials, endpoint and region come from the AWS SDK's own environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL``, ``AWS_REGION``), resolved by botocore exactly as the AWS CLI does; offsetflow never
prints them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Location of an output as given on the command line: a path, or a URL with a scheme.
Location = Path | str

_PACKAGES = {"gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs"}


class StorageError(RuntimeError):
    """An output location that cannot be used; the message says what to do."""


class ObjectStoreError(OSError):
    """A failed request to an object store. An OSError, like a failed local write, so the consumer loop treats
    it as infrastructure: retried and never blamed on the records (which would dead-letter them)."""


@contextmanager
def object_store_errors(what: str) -> Iterator[None]:
    """Turn the client library's own exceptions (botocore's connection errors are not OSErrors) into
    ObjectStoreError; OSErrors (s3fs maps most S3 error codes to them) pass through."""
    from offsetflow import redact

    try:
        yield
    except OSError:
        raise
    except Exception as exc:
        raise ObjectStoreError(redact.text(f"{what}: {type(exc).__name__}: {exc}")) from exc


def is_url(location: Location) -> bool:
    """``s3://b/p`` is a URL; ``out``, ``/data/out`` and ``file:///data/out`` are local directories."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: Location) -> Path:
    text = str(location)
    return Path(text.removeprefix("file://")) if text.startswith("file://") else Path(location)


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ``("s3", "bucket/a/b")``: the scheme and the path fsspec calls it by."""
    scheme, _, rest = url.partition("://")
    path = rest.strip("/")
    if not path:
        raise StorageError(f"{url}: name a bucket (and optionally a prefix), e.g. {scheme}://my-bucket/offsetflow")
    return scheme.lower(), path


def s3_filesystem(env: Mapping[str, str] | None = None) -> Any:
    """An s3fs filesystem that always lists afresh (other consumers write the same prefixes concurrently).

    ``env`` defaults to the process environment. The standard variables are read here and passed on, rather
    than left to botocore alone: fsspec reuses a filesystem built with the same arguments, so credentials
    and endpoint must be among them for a changed variable to take effect; and an older botocore without
    ``AWS_ENDPOINT_URL`` support still reaches an S3-compatible server. Whatever is unset (a profile, an
    instance role) botocore resolves as the AWS CLI does.
    """
    import s3fs  # type: ignore[import-untyped]

    source = env if env is not None else os.environ
    kwargs: dict[str, Any] = {"use_listings_cache": False}
    for name, arg in (
        ("AWS_ACCESS_KEY_ID", "key"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ):
        if source.get(name):
            kwargs[arg] = source[name]
    endpoint = source.get("AWS_ENDPOINT_URL_S3") or source.get("AWS_ENDPOINT_URL")
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    region = source.get("AWS_REGION") or source.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["client_kwargs"] = {"region_name": region}
    return s3fs.S3FileSystem(**kwargs)


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for a URL and the URL's path within it."""
    scheme, path = split_url(url)
    if scheme in ("s3", "s3a"):
        return s3_filesystem(), path
    import fsspec  # type: ignore[import-untyped]

    try:
        return fsspec.filesystem(scheme, use_listings_cache=False), path
    except (ImportError, ValueError) as exc:
        hint = f"`pip install {_PACKAGES[scheme]}`" if scheme in _PACKAGES else "use s3://, gs:// or az://"
        raise StorageError(f"{url}: no filesystem for {scheme}:// ({exc}); {hint}") from exc
