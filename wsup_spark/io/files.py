"""Small files next to the tables (run artifacts, reports, manifests) on a local path or any
pyarrow filesystem URI (``s3://``, ``gs://``, ``abfss://``, ``hdfs://``)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pyarrow import fs as pafs


def as_uri(path: str) -> str:
    """``path`` as a URI: unchanged when it has a scheme, else ``file://`` + its absolute path.

    >>> as_uri("s3://bucket/x")
    's3://bucket/x'
    >>> as_uri("/tmp/x")
    'file:///tmp/x'
    """
    return path if "://" in path else "file://" + os.path.abspath(path)


def write_bytes(path: str, data: bytes) -> None:
    """Write a file, creating parent folders."""
    filesystem, p = pafs.FileSystem.from_uri(as_uri(path))
    parent = p.rsplit("/", 1)[0]
    if parent:
        filesystem.create_dir(parent, recursive=True)
    with filesystem.open_output_stream(p) as f:
        f.write(data)


def write_files(folder: str, files: Mapping[str, bytes]) -> None:
    """Write ``{name: bytes}`` into ``folder`` (created when absent)."""
    for name, data in files.items():
        write_bytes(f"{folder.rstrip('/')}/{name}", data)


def read_bytes(path: str) -> bytes:
    """Read a whole file."""
    filesystem, p = pafs.FileSystem.from_uri(as_uri(path))
    with filesystem.open_input_stream(p) as f:
        return bytes(f.read())


def exists(path: str) -> bool:
    """True when ``path`` is an existing file or folder."""
    filesystem, p = pafs.FileSystem.from_uri(as_uri(path))
    return bool(filesystem.get_file_info(p).type != pafs.FileType.NotFound)


def list_names(folder: str) -> list[str]:
    """Names of the entries of ``folder`` (files and folders), sorted; [] when it is absent."""
    filesystem, p = pafs.FileSystem.from_uri(as_uri(folder))
    infos = filesystem.get_file_info(pafs.FileSelector(p, allow_not_found=True))
    return sorted(i.base_name for i in infos)
