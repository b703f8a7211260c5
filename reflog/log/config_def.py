"""Kafka's ``ConfigDef`` for reflog: typed config keys, parsed and validated as Kafka does.

A :class:`ConfigKey` is one of Kafka's config definitions: a name, a :class:`ConfigType`
(Kafka's ``ConfigDef.Type``, with the ids DescribeConfigs v3+ carries), a default, an optional
validator (:class:`Range`, :class:`ValidString`, :class:`ValidList`), its documentation and the
broker config that supplies its default (Kafka's ``ServerTopicConfigSynonyms``).

* :meth:`ConfigKey.parse` turns a value as a client sends it (a string) or as Python code passes
  it (an ``int``, ``bool``, ``float``, a list or set of strings) into the typed value, then
  validates it. It raises :class:`~reflog.errors.InvalidConfigError` (``INVALID_CONFIG``, 40)
  with Kafka's ``ConfigException`` message: ``Invalid value V for configuration N: ...``
  ("Not a number of type LONG", "Expected value to be either true or false", "Value must be at
  least 1", "String must be one of: ...").
* :meth:`ConfigKey.to_string` gives the typed value back as the string Kafka shows for it
  (``ConfigDef.convertToString``): lists comma-joined, booleans ``true``/``false``.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable
from typing import Final, TypeAlias

import attrs

from reflog.errors import InvalidConfigError

LONG_MAX: Final = 2**63 - 1
"""Java's ``Long.MAX_VALUE``."""
LONG_MIN: Final = -(2**63)
INT_MAX: Final = 2**31 - 1
"""Java's ``Integer.MAX_VALUE``."""
INT_MIN: Final = -(2**31)

ConfigValue: TypeAlias = "int | float | bool | str | tuple[str, ...]"
"""A typed config value: INT/LONG are ``int``, DOUBLE ``float``, LIST a tuple of strings."""

_DECIMAL: Final = re.compile(r"[+-]?[0-9]+")  # Java's parseInt/parseLong: no "1_000", no "0x10"
_DOUBLE: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[dDfF]?")


class ConfigType(enum.IntEnum):
    """Kafka's ``ConfigDef.Type``, numbered as DescribeConfigs' ``config_type`` (``ConfigType``)."""

    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


def invalid(name: str, value: object, message: str) -> InvalidConfigError:
    """Kafka's ``ConfigException(name, value, message)``."""
    return InvalidConfigError(f"Invalid value {value} for configuration {name}: {message}")


@attrs.frozen
class Range:
    """Kafka's ``Range.atLeast`` / ``Range.between`` (``high`` ``None``: no upper bound)."""

    low: float
    high: float | None = None

    def check(self, name: str, value: ConfigValue) -> None:
        assert isinstance(value, (int, float))
        if value < self.low:
            raise invalid(name, value, f"Value must be at least {_number(self.low)}")
        if self.high is not None and value > self.high:
            raise invalid(name, value, f"Value must be no more than {_number(self.high)}")


@attrs.frozen
class ValidString:
    """Kafka's ``ValidString.in``: the value must be one of ``valid`` (case-sensitive)."""

    valid: tuple[str, ...]

    def check(self, name: str, value: ConfigValue) -> None:
        if value not in self.valid:
            raise invalid(name, value, f"String must be one of: {', '.join(self.valid)}")


@attrs.frozen
class ValidList:
    """Kafka's ``ValidList.in``: every element must be one of ``valid``."""

    valid: tuple[str, ...]

    def check(self, name: str, value: ConfigValue) -> None:
        assert isinstance(value, tuple)
        for item in value:
            ValidString(self.valid).check(name, item)


Validator: TypeAlias = "Range | ValidString | ValidList"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@attrs.frozen
class ConfigKey:
    """One config definition (Kafka's ``ConfigDef.ConfigKey``); see the module docstring."""

    name: str
    type: ConfigType
    default: ConfigValue
    validator: Validator | None = None
    doc: str = ""
    #: The broker config whose value is this config's default (``log.retention.ms``), if any.
    server_default: str | None = None

    def parse(self, raw: object) -> ConfigValue:
        """The typed, validated value of ``raw``; :class:`InvalidConfigError` as Kafka's parse."""
        value = self._typed(raw)
        if self.validator is not None:
            self.validator.check(self.name, value)
        return value

    def to_string(self, value: ConfigValue) -> str:
        """Kafka's ``ConfigDef.convertToString``."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, tuple):
            return ",".join(value)
        return str(value)

    @property
    def default_string(self) -> str:
        return self.to_string(self.default)

    def _typed(self, raw: object) -> ConfigValue:
        name, kind = self.name, self.type
        text = raw.strip() if isinstance(raw, str) else None
        if kind is ConfigType.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, int) and raw in (0, 1):  # a Python caller's 0/1 (never a client's)
                return bool(raw)
            if text is not None and text.lower() in ("true", "false"):
                return text.lower() == "true"
            raise invalid(name, raw, "Expected value to be either true or false")
        if kind in (ConfigType.STRING, ConfigType.PASSWORD, ConfigType.CLASS):
            if text is None:
                raise invalid(name, raw, f"Expected value to be a string, but it was a {type(raw).__name__}")
            return text
        if kind in (ConfigType.INT, ConfigType.SHORT, ConfigType.LONG):
            return self._integer(raw, text)
        if kind is ConfigType.DOUBLE:
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                return float(raw)
            if text is not None and _DOUBLE.fullmatch(text):
                number = float(text.rstrip("dDfF"))
                if math.isfinite(number):
                    return number
            raise invalid(name, raw, "Not a number of type DOUBLE")
        # LIST
        if text is not None:
            return tuple(re.split(r"\s*,\s*", text)) if text else ()
        if isinstance(raw, (list, tuple, set, frozenset)) and all(isinstance(i, str) for i in raw):
            return tuple(sorted(raw)) if isinstance(raw, (set, frozenset)) else tuple(raw)
        raise invalid(name, raw, "Expected a comma separated list.")

    def _integer(self, raw: object, text: str | None) -> int:
        kind = self.type
        low, high = {
            ConfigType.INT: (INT_MIN, INT_MAX),
            ConfigType.SHORT: (-(2**15), 2**15 - 1),
            ConfigType.LONG: (LONG_MIN, LONG_MAX),
        }[kind]
        if isinstance(raw, int) and not isinstance(raw, bool):
            number = raw
        elif text is not None and _DECIMAL.fullmatch(text):
            number = int(text)
        else:
            if text is None:
                kind_name = type(raw).__name__
                raise invalid(self.name, raw, f"Expected value to be a number, but it was a {kind_name}")
            raise invalid(self.name, raw, f"Not a number of type {kind.name}")
        if not low <= number <= high:
            raise invalid(self.name, raw, f"Not a number of type {kind.name}")
        return number


def string_values(keys: Iterable[ConfigKey]) -> dict[str, str]:
    """Each key's default, as Kafka shows it."""
    return {key.name: key.default_string for key in keys}


__all__ = [
    "INT_MAX",
    "INT_MIN",
    "LONG_MAX",
    "LONG_MIN",
    "ConfigKey",
    "ConfigType",
    "ConfigValue",
    "Range",
    "ValidList",
    "ValidString",
    "Validator",
    "invalid",
    "string_values",
]
