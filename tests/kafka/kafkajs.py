"""KafkaJS (Node.js) as a real client of ``reflog serve``: run ``tests/js/kafkajs_client.js``.

:func:`run_kafkajs` runs one command of that script (``admin``, ``produce``, ``group``: the script's
header says what each takes and prints) against a bootstrap address, with a timeout, and returns
the JSON objects it printed, one per stdout line; :class:`KafkaJSProcess` runs one while the test
injects faults. KafkaJS's own log goes to the script's stderr
at ``ERROR`` (``KAFKAJS_LOG_LEVEL=DEBUG`` shows every request and response).

Failure modes, each a :class:`KafkaJSError` whose message carries the command, the JSON lines
printed so far and the whole stderr:

* node or the installed KafkaJS is missing: the message says how to install it (``make pytest``
  runs ``npm ci`` in ``tests/js``); the default suite never skips these tests;
* the script exits non-zero (a KafkaJS call threw), or prints a line that is not JSON;
* the script outlives ``timeout`` seconds (it is killed first).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parent.parent / "js"
SCRIPT = JS_DIR / "kafkajs_client.js"
INSTALL_HINT = "run `make pytest` (it runs `npm ci` in tests/js), or `cd tests/js && npm ci`"


class KafkaJSError(AssertionError):
    """A KafkaJS run failed; the message holds its output."""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise KafkaJSError(f"node (Node.js >= 18) is not on PATH: install it, then {INSTALL_HINT}")
    if not (JS_DIR / "node_modules" / "kafkajs" / "package.json").exists():
        raise KafkaJSError(f"KafkaJS is not installed in {JS_DIR / 'node_modules'}: {INSTALL_HINT}")
    return node


def _describe(command: str, stdout: str, stderr: str) -> str:
    return f"KafkaJS `{command}`\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}"


def run_kafkajs(
    command: str, bootstrap: str, args: dict[str, Any], timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Run ``kafkajs_client.js COMMAND BOOTSTRAP ARGS``; its stdout lines, parsed as JSON."""
    env = {**os.environ, "KAFKAJS_NO_PARTITIONER_WARNING": "1"}
    env.setdefault("KAFKAJS_LOG_LEVEL", "ERROR")
    argv = [_node(), str(SCRIPT), command, bootstrap, json.dumps(args)]
    try:
        done = subprocess.run(
            argv, cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise KafkaJSError(f"timed out after {timeout} s: " + _describe(command, out, err)) from None
    if done.returncode != 0:
        raise KafkaJSError(f"exit status {done.returncode}: " + _describe(command, done.stdout, done.stderr))
    try:
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise KafkaJSError(f"not JSON ({exc}): " + _describe(command, done.stdout, done.stderr)) from None


class KafkaJSProcess:
    """A KafkaJS command running while the test acts: :meth:`until` reads its JSON lines up to
    one of a kind, :meth:`go` answers a ``paused`` line, :meth:`finish` waits for the exit.

    Every failure (timeout, non-zero exit, a line that is not JSON) is a :class:`KafkaJSError`
    with the lines so far and the stderr; the process is killed by then. Use it as a context
    manager so the process never outlives the test.
    """

    def __init__(self, command: str, bootstrap: str, args: dict[str, Any]) -> None:
        self.command = command
        self.events: list[dict[str, Any]] = []
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in __exit__)
        env = {**os.environ, "KAFKAJS_NO_PARTITIONER_WARNING": "1"}
        env.setdefault("KAFKAJS_LOG_LEVEL", "ERROR")
        self._process = subprocess.Popen(
            [_node(), str(SCRIPT), command, bootstrap, json.dumps(args)],
            cwd=JS_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"kafkajs-{command}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _fail(self, why: str) -> KafkaJSError:
        self._process.kill()
        self._process.wait()
        self._stderr.seek(0)
        out = "".join(json.dumps(e) + "\n" for e in self.events)
        return KafkaJSError(f"{why}: " + _describe(self.command, out, self._stderr.read()))

    def until(self, kind: str, timeout: float = 60.0) -> dict[str, Any]:
        """Read events until one whose ``event`` is ``kind``; that one."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._fail(f"no {kind!r} event within {timeout} s") from None
            if line is None:
                raise self._fail(f"exited (status {self._process.wait()}) before a {kind!r} event")
            if not line.strip():
                continue
            try:
                event: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError:
                raise self._fail(f"not JSON: {line!r}") from None
            self.events.append(event)
            if event.get("event") == kind:
                return event

    def go(self) -> None:
        """Let a paused command go on."""
        assert self._process.stdin is not None
        self._process.stdin.write("go\n")
        self._process.stdin.flush()

    def finish(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Every event, once the command has exited with status 0."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._fail(f"still running after {timeout} s") from None
            if line is None:
                break
            if line.strip():
                try:
                    self.events.append(json.loads(line))
                except json.JSONDecodeError:
                    raise self._fail(f"not JSON: {line!r}") from None
        status = self._process.wait()
        if status != 0:
            raise self._fail(f"exit status {status}")
        return self.events

    def __enter__(self) -> KafkaJSProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._reader.join(10)
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()


def admin(
    bootstrap: str, *calls: tuple[str, list[Any]], tls: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run admin ``calls`` (method name, positional args) in one admin client; one event each.
    ``tls`` (``ca``, ``cert``, ``key``: PEM paths) connects over mutual TLS.

    Each event is ``{"event": "result", "call", "result"}`` or ``{"event": "failed", "call",
    "error": {"name", "type", "message", "retriable"}}``.
    """
    args: dict[str, Any] = {"calls": [{"call": c, "args": a} for c, a in calls]}
    if tls is not None:
        args["tls"] = tls
    events = run_kafkajs("admin", bootstrap, args)
    if [e.get("call") for e in events] != [c for c, _ in calls]:
        raise KafkaJSError(f"expected one event per call {[c for c, _ in calls]}, got {events}")
    return events


def result(event: dict[str, Any]) -> Any:
    """The result of a successful admin call's event (a failed call fails the test, with its error)."""
    if event["event"] != "result":
        raise KafkaJSError(f"KafkaJS admin {event['call']} failed: {event['error']}")
    return event["result"]
