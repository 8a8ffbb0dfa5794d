"""Small helpers over the default Django storage (media): atomic writes, array I/O."""
from __future__ import annotations

import os
import tempfile

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def write_bytes(name: str, data: bytes) -> str:
    """Store ``data`` at exactly ``name`` (replacing it). On the local file system the file is
    written to a temporary name and renamed, so a reader never sees half a file."""
    try:
        path = default_storage.path(name)
    except NotImplementedError:  # remote storage (S3 …): uploads are atomic there
        if default_storage.exists(name):
            default_storage.delete(name)
        return default_storage.save(name, ContentFile(data))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return name


def read_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()


def exists(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def local_path(name: str) -> str | None:
    try:
        return default_storage.path(name)
    except NotImplementedError:
        return None
