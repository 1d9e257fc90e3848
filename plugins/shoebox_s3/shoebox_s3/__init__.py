"""shoebox-s3: ship sealed archives to S3 (AWS or any S3-compatible store) through s3fs.

* ``s3`` (:class:`S3Transfer`): an on-close transfer to ``s3://bucket/prefix/...``, multipart for
  large files, verified (size plus MD5 or multipart ETag, checksums also stored as object
  metadata) before the local file may be removed.

Installing the distribution makes the name available to configurations; reading archives back
from ``s3://`` URLs needs only s3fs (``ReadingRollManager("s3://bucket/prefix/*.events")``).
"""

from __future__ import annotations

from .transfer import S3Transfer

__version__ = "0.1.0"

__all__ = ["S3Transfer", "__version__"]
