"""Records the model hands to oracles: what a power loss did, and which write-backs failed.

All records are frozen values; paths are the file's visible path at the time of the
event, or ``"#<ino>"`` for a file that no longer had a name.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflog.storage.sim._policy import PAGE_SIZE, SECTOR_SIZE, PowerLossMode


@dataclass(frozen=True, order=True)
class PageRef:
    """One page of one file: bytes ``[page * PAGE_SIZE, (page + 1) * PAGE_SIZE)``."""

    path: str
    page: int


@dataclass(frozen=True, order=True)
class TornPage:
    """A surviving page write that landed torn: ``bad_sectors`` did not get the new bytes.

    ``fill`` says what each bad sector holds instead: ``"old"`` (the media's previous bytes),
    ``"zeros"`` or ``"garbage"``, in the order of ``bad_sectors``.
    """

    path: str
    page: int
    bad_sectors: tuple[int, ...]
    fill: tuple[str, ...]


@dataclass(frozen=True, order=True)
class SizeOutcome:
    """A file whose visible size differed from its durable size at the power loss."""

    path: str
    durable_size: int
    visible_size: int
    #: The size the file has after the power loss (one of the two).
    size_after: int


@dataclass(frozen=True)
class CrashReport:
    """What a power loss kept and lost, so a test can assert *why* a file looks as it does.

    ``lost_pages`` and ``surviving_pages`` partition the unsynced page writes (dirty in
    the page cache or waiting in the volatile device cache); a surviving page that ends
    up beyond the file's size after the crash counts as lost. ``garbage_pages`` are pages of
    a newly exposed tail (size reached the journal, data did not) filled with garbage
    (``TORN`` only). ``rolled_back`` describes the directory operations undone, in journal order.
    """

    mode: PowerLossMode
    lost_pages: tuple[PageRef, ...]
    surviving_pages: tuple[PageRef, ...]
    torn_pages: tuple[TornPage, ...]
    garbage_pages: tuple[PageRef, ...]
    sizes: tuple[SizeOutcome, ...]
    rolled_back: tuple[str, ...]
    kept_directory_ops: tuple[str, ...]
    handles_invalidated: int

    def first_destroyed_byte(self, path: str) -> int | None:
        """The first byte of ``path`` a torn write replaced with zeros or garbage, or ``None``.

        A sector that kept its *old* bytes lost only the unsynced change; a sector filled with
        zeros or garbage also lost whatever durable bytes it held before. An append-only log
        rewrites the partly filled last page of a segment, so a torn write of that page can
        destroy bytes that were already fsynced; this is the limit of what any log in Kafka's
        format can promise on a device whose sectors are not written atomically.
        """
        first: int | None = None
        for torn in self.torn_pages:
            if torn.path != path:
                continue
            bad = [s for s, fill in zip(torn.bad_sectors, torn.fill, strict=True) if fill != "old"]
            if bad:
                position = torn.page * PAGE_SIZE + min(bad) * SECTOR_SIZE
                first = position if first is None else min(first, position)
        return first


@dataclass(frozen=True)
class FailedWrite:
    """A write-back I/O the device failed: pages ``[first_page, first_page + n_pages)`` of a file.

    The pages were marked clean anyway (Linux); their new bytes never reached the device.
    """

    path: str
    ino: int
    first_page: int
    n_pages: int
    errno: int
    at: float


@dataclass(frozen=True)
class MisdirectedWrite:
    """A write-back run meant for ``intended_page`` that landed at ``landed_page`` of the same file."""

    path: str
    ino: int
    intended_page: int
    landed_page: int
    n_pages: int
    at: float


@dataclass(frozen=True)
class DeviceIO:
    """One device operation, as recorded when the file system traces I/O (``trace_io=True``).

    ``kind`` is ``"read"``, ``"write"`` or ``"flush"`` (a flush has ``ino == -1`` and no pages);
    ``first_page`` is where the host aimed the I/O (a misdirected write lands elsewhere).
    """

    kind: str
    ino: int
    first_page: int
    n_pages: int
    sequential: bool
