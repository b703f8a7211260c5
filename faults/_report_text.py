"""Text helpers of the HTML report (:mod:`faults.report`): UTF-8-safe text, escaping, cutting, numbers.

Every function here raises nothing for any input: a value that cannot be shown as text becomes
``<unprintable>``, lone surrogates become backslash escapes, a time that is no number is NaN.
"""

from __future__ import annotations

import html
import json
import math
import re

MAX_VALUE_CHARS = 400
"""Longer values are cut in tooltips."""


def as_text(value: object) -> str:
    """``value`` as text that encodes as UTF-8 (lone surrogates become backslash escapes)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        text = "<unprintable>"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def esc(value: object) -> str:
    """HTML-escaped text (quotes too, so it is safe in attributes)."""
    return html.escape(as_text(value), quote=True)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: object) -> str:
    """A value as compact JSON in its own key order, or its ``repr`` when that fails."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), allow_nan=True)
    except Exception:
        try:
            text = repr(value)
        except Exception:
            text = "<unprintable>"
    return cut(as_text(text), MAX_VALUE_CHARS)


def as_time(value: object) -> float:
    """A time as a float; NaN when it is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    try:
        return float(str(value))
    except (TypeError, ValueError, OverflowError):
        return math.nan


def fmt_time(t: float) -> str:
    return f"{t:.6g}" if math.isfinite(t) else str(t)


def num(x: float) -> str:
    """An SVG coordinate."""
    return f"{x:.1f}"


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "run"
