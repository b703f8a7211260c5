"""KafkaJS (Node.js) as a real client of ``reflog serve``: run ``tests/js/kafkajs_client.js``.

:func:`run_kafkajs` runs one command of that script (``admin``, ``produce``, ``group``: the script's
header says what each takes and prints) against a bootstrap address, with a timeout, and returns
the JSON objects it printed, one per stdout line. KafkaJS's own log goes to the script's stderr
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
import shutil
import subprocess
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


def admin(bootstrap: str, *calls: tuple[str, list[Any]]) -> list[dict[str, Any]]:
    """Run admin ``calls`` (method name, positional args) in one admin client; one event each.

    Each event is ``{"event": "result", "call", "result"}`` or ``{"event": "failed", "call",
    "error": {"name", "type", "message", "retriable"}}``.
    """
    events = run_kafkajs("admin", bootstrap, {"calls": [{"call": c, "args": a} for c, a in calls]})
    if [e.get("call") for e in events] != [c for c, _ in calls]:
        raise KafkaJSError(f"expected one event per call {[c for c, _ in calls]}, got {events}")
    return events


def result(event: dict[str, Any]) -> Any:
    """The result of a successful admin call's event (a failed call fails the test, with its error)."""
    if event["event"] != "result":
        raise KafkaJSError(f"KafkaJS admin {event['call']} failed: {event['error']}")
    return event["result"]
