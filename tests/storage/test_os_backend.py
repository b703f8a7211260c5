"""The OS backend of the storage seam: real files, real fsync, real descriptors (SEAM-*)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from reflog.errors import ReflogUsageError, StorageError
from reflog.storage import Filesystem, OsFilesystem


@pytest.mark.req("SEAM-1")
def test_os_backend_writes_real_files(tmp_path: Path) -> None:
    fs: Filesystem = OsFilesystem(tmp_path)
    fs.makedirs("a/b")
    handle = fs.open("a/b/f", create=True)
    fs.pwrite(handle, 0, b"hello")
    fs.pwrite(handle, 10, memoryview(b"world"))
    assert fs.size(handle) == 15
    assert fs.pread(handle, 0, 100) == b"hello\x00\x00\x00\x00\x00world"
    fs.truncate(handle, 5)
    fs.fsync(handle)
    fs.fsync_dir("a/b")
    assert (tmp_path / "a/b/f").read_bytes() == b"hello"
    fd = fs.sendfile_fd(handle)
    assert fd is not None and os.fstat(fd).st_size == 5
    fs.close(handle)
    fs.rename("a/b/f", "a/b/g")
    assert fs.listdir("a/b") == ["g"] and fs.exists("a/b/g") and not fs.exists("a/b/f")
    fs.delete("a/b/g")
    assert fs.listdir("a/b") == []
    assert fs.take_throttle_delay() == 0.0


@pytest.mark.req("SEAM-2")
def test_os_backend_errors_are_typed(tmp_path: Path) -> None:
    fs = OsFilesystem(tmp_path)
    with pytest.raises(FileNotFoundError):
        fs.open("missing")
    with pytest.raises(FileNotFoundError):
        fs.listdir("nope")
    for bad in ("/etc/passwd", "../escape", "a/../../b"):
        with pytest.raises(ReflogUsageError):
            fs.open(bad, create=True)
    handle = fs.open("f", create=True)
    fs.close(handle)
    with pytest.raises(ReflogUsageError):
        fs.pread(handle, 0, 1)  # a closed handle is a usage error, not a stray descriptor


@pytest.mark.req("SEAM-2")
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_enospc_from_the_kernel_becomes_a_storage_error(tmp_path: Path) -> None:
    fs = OsFilesystem(tmp_path)
    os.symlink("/dev/full", tmp_path / "full")
    handle = fs.open("full")
    with pytest.raises(StorageError) as info:
        fs.pwrite(handle, 0, b"x" * 4096)
    assert info.value.errno == errno.ENOSPC and info.value.path == "full"
    assert info.value.error_code == 56 and info.value.retriable
    fs.close(handle)


@pytest.mark.req("SEAM-1")
def test_os_backend_namespace_operations_under_a_fake_filesystem(fs: FakeFilesystem) -> None:
    """pyfakefs fakes the path-level calls (not pread/pwrite), which is what layout code uses."""
    storage = OsFilesystem("/data")
    storage.makedirs("orders-0")
    fs.create_file("/data/orders-0/00000000000000000000.log", contents=b"x")
    fs.create_file("/data/orders-0/leader-epoch-checkpoint.tmp")
    assert storage.listdir("orders-0") == ["00000000000000000000.log", "leader-epoch-checkpoint.tmp"]
    storage.rename("orders-0/leader-epoch-checkpoint.tmp", "orders-0/leader-epoch-checkpoint")
    storage.delete("orders-0/00000000000000000000.log")
    assert storage.listdir("orders-0") == ["leader-epoch-checkpoint"]
    assert storage.exists("orders-0") and not storage.exists("orders-1")


@pytest.mark.req("PERF-2")
def test_read_views_map_the_page_cache_once_and_follow_the_file(tmp_path: Path) -> None:
    """In-place reads share the kernel's pages (a later write shows through), reuse one mapping
    while the file does not grow past it, and are clipped at end of file."""
    fs = OsFilesystem(tmp_path)
    handle = fs.open("seg.log", create=True)
    fs.pwrite(handle, 0, b"a" * 10_000)
    with fs.read_views(handle, 100, 50) as views:
        assert b"".join(bytes(v) for v in views) == b"a" * 50
    first = handle.mapping  # type: ignore[attr-defined]
    fs.pwrite(handle, 100, b"b" * 10)
    with fs.read_views(handle, 100, 20) as views:
        assert bytes(views[0]) == b"b" * 10 + b"a" * 10  # the same pages, not a copy
    assert handle.mapping is first  # type: ignore[attr-defined]
    fs.pwrite(handle, 10_000, b"c" * 5_000)  # the file grows past the mapping: remapped
    with fs.read_views(handle, 9_990, 100_000) as views:
        assert bytes(views[0]) == b"a" * 10 + b"c" * 5_000  # clipped at end of file
    assert handle.mapping is not first  # type: ignore[attr-defined]
    with fs.read_views(handle, 20_000, 10) as views:
        assert views == []
    fs.close(handle)
    assert first.closed
