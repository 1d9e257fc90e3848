"""The ``s3`` transfer: sealed archives to ``s3://bucket/prefix/...`` through s3fs."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

from shoebox_core.errors import ConfigError, TransferError
from shoebox_core.options import boolean, number
from shoebox_core.plugin import with_base_options
from shoebox_core.remote import remote_errors, remote_options
from shoebox_core.ship.transfer import LocalDigest, RemoteInfo, Transfer

__all__ = ["S3Transfer"]

MiB = 1024 * 1024
MIN_PART = 5 * MiB  # S3's smallest part (all but the last)
MAX_PARTS = 10_000
SINGLE_PUT_LIMIT = 5 * 1024 * MiB  # S3's largest single PUT


@with_base_options
class S3Transfer(Transfer):
    """Upload sealed archives to S3 or any S3-compatible store (verified, never overwriting).

    Options (keyword-only; strings accepted as a config file gives them), besides those of
    :class:`~shoebox_core.ship.transfer.Transfer` (``template``, ``fields``, ``missing``,
    ``remove_local``, ``verify``):

    * ``url``: ``s3://bucket/prefix``.
    * ``endpoint_url``: an S3-compatible store (``http://127.0.0.1:9000``); default AWS.
    * ``key`` / ``secret`` / ``token``, or ``profile`` (a named profile of the AWS config files),
      or neither: botocore's usual chain (environment, config files, instance role). ``anon``
      for public buckets. Credentials are never logged or shown by ``repr``.
    * ``client_kwargs`` (botocore client: ``verify``, ``use_ssl``...; not ``region_name``: set
      ``AWS_DEFAULT_REGION``), ``config_kwargs`` (botocore ``Config``: ``retries``,
      ``connect_timeout``...), ``s3_additional_kwargs`` (every request: ``ServerSideEncryption``,
      ``StorageClass``...), ``storage_options`` (any other ``S3FileSystem`` argument).
    * ``connect_timeout`` (5 s) and ``read_timeout`` (30 s) of each request. botocore's and
      s3fs's own retries are off (unless ``config_kwargs`` sets ``retries``): the writer's
      shipping worker retries, under one policy, and stops at once on an error retrying cannot
      cure (no such bucket, access denied, bad credentials).
    * ``part_size_mb`` (16): files of at least twice this size go up as multipart uploads of
      parts this size (at least 5 MiB; grown to stay within 10,000 parts).
    * ``max_concurrency``: parts uploaded at once (s3fs's default otherwise).
    * ``create_bucket`` (False): create the bucket on first use if it is missing.

    Verification: the object's size, then its ETag (the MD5 of a single PUT, or the multipart
    ETag computed locally from the part MD5s); when the ETag proves nothing (server-side
    encryption with KMS, another part size) the object is read back. The MD5, CRC32C and size
    are also stored as object metadata (``x-amz-meta-shoebox-md5``...).
    """

    name = "s3"
    schemes = ("s3", "s3a")

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        profile: str | None = None,
        anon: object = False,
        client_kwargs: Mapping[str, Any] | None = None,
        config_kwargs: Mapping[str, Any] | None = None,
        s3_additional_kwargs: Mapping[str, Any] | None = None,
        storage_options: Mapping[str, Any] | None = None,
        part_size_mb: object = 16,
        max_concurrency: object = None,
        create_bucket: object = False,
        connect_timeout: object = None,
        read_timeout: object = None,
        **base: Any,
    ) -> None:
        owner = "S3Transfer"
        if client_kwargs and "region_name" in client_kwargs:
            raise ConfigError(
                f"{owner}: do not set region_name in client_kwargs (s3fs turns it into a "
                "LocationConstraint that us-east-1 refuses); set AWS_DEFAULT_REGION instead"
            )
        options = self.store_options(
            storage_options, endpoint_url=endpoint_url, key=key, secret=secret, token=token,
            profile=profile, client_kwargs=client_kwargs, config_kwargs=config_kwargs,
            s3_additional_kwargs=s3_additional_kwargs,
        )
        if boolean(anon, "anon", owner=owner):
            options["anon"] = True
        self.connect_timeout = (None if connect_timeout is None else
                                number(connect_timeout, "connect_timeout", owner=owner))
        self.read_timeout = (None if read_timeout is None else
                             number(read_timeout, "read_timeout", owner=owner))
        super().__init__(storage_options=options, **base)
        self.bucket = self.url.split("://", 1)[1].split("/", 1)[0]
        size = number(part_size_mb, "part_size_mb", owner=owner)
        self.part_bytes = max(MIN_PART, int(size * MiB))
        self.max_concurrency = (
            None
            if max_concurrency is None
            else int(number(max_concurrency, "max_concurrency", owner=owner, integer=True))
        )
        self.create_bucket = boolean(create_bucket, "create_bucket", owner=owner)
        self._bucket_checked = False

    def make_filesystem(self) -> tuple[Any, str]:
        """An ``s3fs.S3FileSystem`` with the configured options; the root is ``bucket/prefix``."""
        try:
            import s3fs
        except ImportError as exc:  # pragma: no cover - s3fs is a dependency
            raise TransferError(f"the s3 transfer needs s3fs: pip install s3fs ({exc})") from exc
        options = remote_options(self.url, self.storage_options,
                                 connect_timeout=self.connect_timeout,
                                 read_timeout=self.read_timeout)
        with remote_errors(self.url):
            fs = s3fs.S3FileSystem(**options)
        fs.retries = 1  # s3fs's own retry loop: the shipping worker's policy is the only one
        root = self.url.split("://", 1)[1].rstrip("/")
        return fs, root

    def part_size(self, size: int) -> int | None:
        """The part size of a multipart upload of ``size`` bytes; None for a single PUT (as
        s3fs decides: below twice the part size)."""
        part = max(self.part_bytes, math.ceil(size / MAX_PARTS))
        if size < min(SINGLE_PUT_LIMIT, 2 * part):
            return None
        return part

    def prepare_remote(self) -> None:
        """Create the bucket if it is missing and ``create_bucket`` is set (once)."""
        if self._bucket_checked or not self.create_bucket:
            return
        if not self.fs.exists(self.bucket):
            with contextlib.suppress(FileExistsError):
                self.fs.mkdir(self.bucket)
        self._bucket_checked = True

    def upload(self, local: str, remote: str, digest: LocalDigest) -> None:
        """Upload with s3fs (multipart when :meth:`part_size` says so), storing the checksums
        as object metadata."""
        self.prepare_remote()
        extra: dict[str, Any] = {}
        if self.max_concurrency is not None:
            extra["max_concurrency"] = self.max_concurrency
        self.fs.put_file(
            local,
            remote,
            chunksize=digest.part_size or self.part_bytes,
            Metadata=self.object_metadata(digest),
            ContentType="application/octet-stream",
            **extra,
        )

    def remote_info(self, remote: str) -> RemoteInfo | None:
        """One HEAD request: size, ETag and user metadata (never from s3fs's listing cache)."""
        bucket, key, _ = self.fs.split_path(remote)
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(remote)
        try:
            head = self.fs.call_s3("head_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None
        etag = head.get("ETag")
        metadata = {str(k).lower().replace("_", "-"): str(v)
                    for k, v in (head.get("Metadata") or {}).items()}
        return RemoteInfo(
            int(head["ContentLength"]) if "ContentLength" in head else None,
            str(etag).strip('"').lower() if etag else None,
            metadata,
        )
