"""A trio run hosted in a helper thread, driven one step at a time (design-notes §3, option B).

Hypothesis's stateful runner is synchronous: each rule is a plain method call. :class:`TrioHost`
keeps one ``trio.run`` alive in a daemon thread for the whole example, under a
:class:`trio.testing.MockClock` that never moves by itself (no autojump), and lets the test thread

* :meth:`call` an async function inside the run and wait for its result; afterwards every task
  has settled (``wait_all_tasks_blocked``), so state read next is quiescent;
* :meth:`spawn` an async function as a background task that may block (a produce waiting for
  replication, a restart waiting for its registration);
* :meth:`advance` simulated time by ``seconds``: autojump is switched on for exactly that long, so
  every timer due in between fires in order, then time stands still again.

Nothing here uses the wall clock, so the same seed and the same steps replay exactly. Errors from
a background task end the run: the next :meth:`call` raises them. :meth:`close` cancels the run
and joins the thread.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import trio.testing

T = TypeVar("T")


class TrioHost:
    """One trio run in a helper thread; see the module docstring."""

    def __init__(self) -> None:
        self.clock = trio.testing.MockClock()  # rate 0, no autojump: time moves only in advance()
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._task_errors: list[Exception] = []
        self._thread = threading.Thread(target=self._main, name="trio-host", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure

    def _main(self) -> None:
        try:
            trio.run(self._root, clock=self.clock)
        except BaseException as exc:  # reported by the next call()
            self._failure = exc
            self._ready.set()

    async def _root(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._task_errors:
            raise self._task_errors.pop(0)

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` inside the run; return once every task is blocked again."""
        self._check()

        async def settled() -> T:
            result = await fn(*args)
            await trio.testing.wait_all_tasks_blocked()
            return result

        try:
            return trio.from_thread.run(settled, trio_token=self._token)
        except trio.RunFinishedError:
            self._raise_why_the_run_ended()
            raise

    def call_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` inside the run (to read state without racing the run's tasks)."""
        self._check()
        try:
            return trio.from_thread.run_sync(fn, *args, trio_token=self._token)
        except trio.RunFinishedError:
            self._raise_why_the_run_ended()
            raise

    def _raise_why_the_run_ended(self) -> None:
        """The run ended under a call: raise what ended it (a task's crash), not RunFinishedError."""
        self._thread.join(timeout=10)
        if self._failure is not None:
            raise self._failure

    def spawn(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``fn(*args)`` as a background task of the run; return once the run has settled.

        An exception the task raises is kept and raised by the next :meth:`call` (the run goes on).
        """

        async def guarded() -> None:
            try:
                await fn(*args)
            except Exception as exc:
                self._task_errors.append(exc)

        async def start() -> None:
            assert self._nursery is not None
            self._nursery.start_soon(guarded)

        self.call(start)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass, firing every timer due on the way in order."""

        async def sleep() -> None:
            self.clock.autojump_threshold = 0
            try:
                await trio.sleep(seconds)
            finally:
                self.clock.autojump_threshold = math.inf

        self.call(sleep)

    def close(self) -> None:
        """Cancel everything still running and join the thread."""
        if self._thread.is_alive() and self._stop is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(timeout=60)


__all__ = ["TrioHost"]
