"""In-memory state of one file (its inode) and of its cached pages.

These are plain records mutated only by the page cache and the facade; they promise
nothing on their own. Invariant kept by the page cache: every cached byte at a file
offset >= the inode's ``size`` is zero, so extending a file exposes zeros.
"""

from __future__ import annotations

from reflog.storage.sim._policy import PAGE_SIZE


class Page:
    """One cached page: ``PAGE_SIZE`` bytes of file ``inode`` at page ``index``."""

    __slots__ = ("active", "data", "dirtied_at", "dirty", "index", "inode", "referenced")

    def __init__(self, inode: Inode, index: int, data: bytes | None = None) -> None:
        self.inode = inode
        self.index = index
        self.data = bytearray(data) if data is not None else bytearray(PAGE_SIZE)
        self.dirty = False
        #: Simulated time at which the page last went from clean to dirty.
        self.dirtied_at = 0.0
        #: Accessed once while on the inactive list (a second access promotes it).
        self.referenced = False
        #: On the active list (else on the inactive list).
        self.active = False


class Inode:
    """A file's visible state: size, cached pages, dirty set, write-back cursor, error sequence."""

    __slots__ = (
        "dirtied_when",
        "dirty",
        "err_seen",
        "errseq",
        "ino",
        "linked",
        "open_count",
        "pages",
        "size",
        "writeback_index",
    )

    def __init__(self, ino: int, size: int = 0) -> None:
        self.ino = ino
        #: Visible size in bytes (the durable size lives on the device).
        self.size = size
        self.pages: dict[int, Page] = {}
        #: Indices of dirty pages.
        self.dirty: set[int] = set()
        #: Time the inode went from clean to dirty (Linux ``inode->dirtied_when``); ``None`` when clean.
        self.dirtied_when: float | None = None
        #: Where the next cyclic write-back pass starts (Linux ``mapping->writeback_index``).
        self.writeback_index = 0
        #: Write-back error sequence (Linux ``errseq_t``): bumped on each failed write-back.
        self.errseq = 0
        #: Whether some handle has already reported the current error.
        self.err_seen = True
        #: Open handles of the current process.
        self.open_count = 0
        #: Whether a visible directory entry names the inode.
        self.linked = False


class ReadAhead:
    """Per-open-file read-ahead state (Linux ``file_ra_state``): the current window and marker."""

    __slots__ = ("marker", "prev_page", "size", "start")

    def __init__(self) -> None:
        self.start = 0
        self.size = 0
        #: Page whose hit triggers the next asynchronous window (-1: none).
        self.marker = -1
        #: Last page this file read (-1: none yet).
        self.prev_page = -1
