"""The flusher: the trio task that plays the kernel's write-back threads for a :class:`SimFilesystem`.

:func:`run_flusher` sleeps until the file system's next write-back due time and then
runs :meth:`SimFilesystem.writeback_tick`; a write that crosses the background
threshold (or dirties the first page of a clean cache) wakes it early through the
file system's wake-up hook. The file system must read trio's clock
(:class:`reflog.trio_clock.TrioClock`, under ``trio.testing.MockClock`` in tests), so that
its due times and ``trio.sleep_until`` speak of the same time.
"""

from __future__ import annotations

from typing import NoReturn

import trio

from reflog.storage.sim import SimFilesystem


async def run_flusher(fs: SimFilesystem) -> NoReturn:
    """Run write-back for ``fs`` forever (start it in a nursery; cancel it to stop).

    Each round sleeps with ``trio.sleep_until(fs.next_writeback_due())`` (forever while
    nothing is dirty), cut short when ``fs`` calls the wake-up hook this task registers,
    then performs everything due with :meth:`SimFilesystem.writeback_tick`.

    Cancellation: the task can only be cancelled while sleeping; a tick is synchronous
    and never interrupted, so the page cache is never left mid-write-back. On
    cancellation the hook is removed and nothing is flushed (cancelling the flusher is
    not a sync: dirty pages stay dirty). It survives ``crash_process`` and
    ``power_loss`` of ``fs`` (it stands for a kernel thread; after a power loss it idles
    on the empty cache). Raises :class:`~reflog.errors.ReflogUsageError` if another
    flusher is already attached to ``fs``.
    """
    current: list[trio.CancelScope] = []

    def wake() -> None:
        for scope in current:
            scope.cancel()

    fs.set_wakeup_hook(wake)
    try:
        while True:
            with trio.CancelScope() as scope:
                current.append(scope)
                try:
                    await trio.sleep_until(fs.next_writeback_due())
                finally:
                    current.clear()
            fs.writeback_tick()
    finally:
        fs.set_wakeup_hook(None)
