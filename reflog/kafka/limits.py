"""Request-level caps, checked on a request's raw bytes before it is decoded (PRO-40).

Decoding is the costly part of a huge request: kafka-python builds a Python object per partition
(about 2 us each), so a 100 MiB Fetch naming millions of partitions would hold the event loop, and
every broker of the process with it, for seconds. :func:`partition_entries` walks only the array
headers of a Fetch, Produce, ListOffsets, Metadata or CreateTopics request (skipping fixed-size
entries and record bytes in one step) and counts the partitions it names (for Metadata the topics,
for CreateTopics the partitions it would create); the listener closes a connection whose request
names more than ``max_partitions_per_request``.

At flexible versions (KIP-482) the walk reads compact strings and arrays (unsigned varints of
length + 1) and skips every tagged-field section, so entries with tags are walked one by one.

Promise: :func:`partition_entries` never raises and never reads past the payload; on bytes it
cannot follow (a truncated or malformed request) it returns what it counted so far, and the
decoder then rejects the request as malformed. A negative array length counts as empty (null).
"""

from __future__ import annotations

import struct
from typing import Final

from reflog.errors import ReflogError
from reflog.kafka.codec import MESSAGES
from reflog.kafka.fetch_fields import TOPIC_IDS_FROM
from reflog.kafka.versions import ApiKey, served

MAX_PARTITIONS_PER_REQUEST: Final = 10_000
"""reflog's default cap on the partitions one Fetch, Produce or ListOffsets names, the topics one
Metadata names and the partitions one CreateTopics creates (Kafka has none; specs/protocol.md)."""

_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")


class TooManyPartitionsError(ReflogError):
    """A request naming more partitions (or topics) than the listener accepts: its connection closes."""


class _Cursor:
    __slots__ = ("data", "flexible", "pos")

    def __init__(self, data: bytes, pos: int, flexible: bool = False) -> None:
        self.data = data
        self.pos = pos
        self.flexible = flexible

    def skip(self, n: int) -> None:
        self.pos += n
        if self.pos > len(self.data):
            raise IndexError("past the end")

    def i16(self) -> int:
        (value,) = _I16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(value)

    def i32(self) -> int:
        (value,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(value)

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise IndexError("varint too long")

    def string(self) -> None:
        """A (nullable) string, or bytes: compact at flexible versions."""
        self.skip(max(0, self.uvarint() - 1) if self.flexible else max(0, self.i16()))

    def nbytes(self) -> None:
        """A (nullable) bytes field with an int32 length (records), compact at flexible versions."""
        self.skip(max(0, self.uvarint() - 1) if self.flexible else max(0, self.i32()))

    def count(self) -> int:
        return max(0, self.uvarint() - 1) if self.flexible else max(0, self.i32())

    def tags(self) -> None:
        """A tagged-field section (flexible versions only): every field skipped."""
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.skip(self.uvarint())


def _topic_entries(cursor: _Cursor, entry: int, limit: int, counted: int, *, topic_id: bool = False) -> int:
    """Add the entries of a ``[topic name (or id), [fixed-size entry]]`` array to ``counted``;
    stops (and returns) as soon as the count passes ``limit``, so a huge array is never walked to
    its end. At flexible versions each entry, and each topic, ends with its tagged fields."""
    for _ in range(min(cursor.count(), limit + 1)):
        if topic_id:
            cursor.skip(16)
        else:
            cursor.string()
        n = cursor.count()
        counted += n
        if counted > limit:
            return counted
        if cursor.flexible:
            for _ in range(n):
                cursor.skip(entry)
                cursor.tags()
        else:
            cursor.skip(n * entry)
        cursor.tags()
    return counted


def _forgotten(cursor: _Cursor, limit: int, counted: int, *, topic_id: bool) -> int:
    """Fetch's ``forgotten_topics_data``: ``[topic (or id), [int32 partition]]``, tags per topic."""
    for _ in range(min(cursor.count(), limit + 1)):
        if topic_id:
            cursor.skip(16)
        else:
            cursor.string()
        n = cursor.count()
        counted += n
        if counted > limit:
            return counted
        cursor.skip(4 * n)
        cursor.tags()
    return counted


def partition_entries(payload: bytes, limit: int = MAX_PARTITIONS_PER_REQUEST) -> int:
    """How many partitions (topics, for Metadata) ``payload`` names, counting stops past ``limit``.

    Other APIs, and versions reflog does not serve, count 0 (the decoder deals with them).
    """
    if len(payload) < 8:
        return 0
    api_key, version = _I16.unpack_from(payload, 0)[0], _I16.unpack_from(payload, 2)[0]
    if not served(api_key, version):
        return 0
    cursor = _Cursor(payload, 8)
    counted = 0
    try:
        cursor.string()  # client_id: a classic string in request header v2 too
        cursor.flexible = bool(MESSAGES[ApiKey(api_key)][0].flexible_version_q(version))
        cursor.tags()  # request header v2's tagged fields
        if api_key == ApiKey.FETCH:
            cursor.skip((17 if version < 15 else 13) + (8 if version >= 7 else 0))  # v15: no replica_id
            entry = (
                4
                + (4 if version >= 9 else 0)
                + 8
                + (4 if version >= 12 else 0)
                + (8 if version >= 5 else 0)
                + 4
            )
            by_id = version >= TOPIC_IDS_FROM
            counted = _topic_entries(cursor, entry, limit, counted, topic_id=by_id)
            if version >= 7 and counted <= limit:  # forgotten_topics_data: topic, [partition]
                counted = _forgotten(cursor, limit, counted, topic_id=by_id)
        elif api_key == ApiKey.PRODUCE:
            cursor.string()  # transactional_id (v3+)
            cursor.skip(6)  # acks, timeout_ms
            for _ in range(min(cursor.count(), limit + 1)):
                cursor.string()
                for _ in range(cursor.count()):
                    counted += 1
                    if counted > limit:
                        return counted
                    cursor.skip(4)
                    cursor.nbytes()  # the records
                    cursor.tags()
                cursor.tags()
        elif api_key == ApiKey.LIST_OFFSETS:
            cursor.skip(4 + (1 if version >= 2 else 0))
            counted = _topic_entries(cursor, 4 + (4 if version >= 4 else 0) + 8, limit, counted)
        elif api_key == ApiKey.METADATA:
            counted = cursor.count()
        elif api_key == ApiKey.CREATE_TOPICS:  # the partitions it would create
            for _ in range(min(cursor.count(), limit + 1)):
                cursor.string()
                partitions = cursor.i32()
                cursor.skip(2)  # replication_factor
                assignments = cursor.count()
                for _ in range(min(assignments, limit + 1)):
                    cursor.skip(4)
                    cursor.skip(4 * cursor.count())
                    cursor.tags()
                for _ in range(cursor.count()):  # configs: name, nullable value
                    cursor.string()
                    cursor.string()
                    cursor.tags()
                cursor.tags()
                counted += partitions if partitions > 0 else max(1, assignments)
                if counted > limit:
                    return counted
    except (IndexError, struct.error):
        return counted
    return counted


def check_partition_entries(payload: bytes, limit: int) -> None:
    """Raise :class:`TooManyPartitionsError` if ``payload`` names more than ``limit`` partitions."""
    counted = partition_entries(payload, limit)
    if counted > limit:
        api_key = _I16.unpack_from(payload, 0)[0]
        raise TooManyPartitionsError(
            f"{ApiKey(api_key).name} request names more than {limit} partitions (max_partitions_per_request)"
        )


__all__ = [
    "MAX_PARTITIONS_PER_REQUEST",
    "TooManyPartitionsError",
    "check_partition_entries",
    "partition_entries",
]
