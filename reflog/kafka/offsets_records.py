"""The records of ``__consumer_offsets``, byte for byte as Kafka's group coordinator writes them
(PRO-120, PRO-124).

Kafka's schemas (``group-coordinator/src/main/resources/common/message``):

* ``OffsetCommitKey`` (key version 1; 0 reads the same): group, topic, partition.
  ``OffsetCommitValue`` version 3: offset, leader epoch, metadata, commit timestamp (version 0
  lacks the epoch; 1 adds an expire timestamp; 2 is 0's layout). A null value is a tombstone:
  the committed offset was deleted.
* ``GroupMetadataKey`` (key version 2): group. ``GroupMetadataValue`` version 3: protocol type,
  generation, protocol, leader, state timestamp and the members (id, instance id, client id,
  client host, rebalance timeout, session timeout, subscription, assignment). A null value is a
  tombstone: the group was deleted.

:func:`partition_for` is Kafka's ``Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions``
with Java's ``String.hashCode`` over UTF-16 code units.

:func:`decode_record` never raises for bad bytes: a key or value it cannot read (a version
reflog does not know, such as the KIP-848 records, or truncated bytes) is ``None``, and the
loader skips it.
"""

from __future__ import annotations

import struct
from typing import Final

import attrs

OFFSETS_TOPIC: Final = "__consumer_offsets"
"""Kafka's internal topic of committed offsets and group metadata."""

_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_I64: Final = struct.Struct(">q")
OFFSET_KEY_VERSION: Final = 1
GROUP_KEY_VERSION: Final = 2
OFFSET_VALUE_VERSION: Final = 3
GROUP_VALUE_VERSION: Final = 3


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode``: ``s[0]*31^(n-1) + ... + s[n-1]`` over UTF-16 code units, int32."""
    data = text.encode("utf-16-be", "surrogatepass")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def partition_for(group_id: str, num_partitions: int) -> int:
    """The ``__consumer_offsets`` partition of ``group_id`` (Kafka's ``Utils.abs``: MIN_VALUE is 0)."""
    h = java_string_hash(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % num_partitions


@attrs.frozen
class OffsetKey:
    group_id: str
    topic: str
    partition: int


@attrs.frozen
class GroupKey:
    group_id: str


@attrs.frozen
class OffsetValue:
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int


@attrs.frozen
class MemberValue:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


@attrs.frozen
class GroupValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    state_timestamp: int
    members: tuple[MemberValue, ...]


# ---------------------------------------------------------------------- writing
def _string(out: bytearray, value: str | None) -> None:
    if value is None:
        out += _I16.pack(-1)
        return
    data = value.encode()
    out += _I16.pack(len(data)) + data


def _bytes(out: bytearray, value: bytes) -> None:
    out += _I32.pack(len(value)) + value


def encode_offset_key(key: OffsetKey) -> bytes:
    out = bytearray(_I16.pack(OFFSET_KEY_VERSION))
    _string(out, key.group_id)
    _string(out, key.topic)
    out += _I32.pack(key.partition)
    return bytes(out)


def encode_group_key(key: GroupKey) -> bytes:
    out = bytearray(_I16.pack(GROUP_KEY_VERSION))
    _string(out, key.group_id)
    return bytes(out)


def encode_offset_value(value: OffsetValue) -> bytes:
    out = bytearray(_I16.pack(OFFSET_VALUE_VERSION))
    out += _I64.pack(value.offset) + _I32.pack(value.leader_epoch)
    _string(out, value.metadata)
    out += _I64.pack(value.commit_timestamp)
    return bytes(out)


def encode_group_value(value: GroupValue) -> bytes:
    out = bytearray(_I16.pack(GROUP_VALUE_VERSION))
    _string(out, value.protocol_type)
    out += _I32.pack(value.generation)
    _string(out, value.protocol)
    _string(out, value.leader)
    out += _I64.pack(value.state_timestamp)
    out += _I32.pack(len(value.members))
    for m in value.members:
        _string(out, m.member_id)
        _string(out, m.group_instance_id)
        _string(out, m.client_id)
        _string(out, m.client_host)
        out += _I32.pack(m.rebalance_timeout_ms) + _I32.pack(m.session_timeout_ms)
        _bytes(out, m.subscription)
        _bytes(out, m.assignment)
    return bytes(out)


# ---------------------------------------------------------------------- reading
class _Reader:
    """Reads Kafka's non-flexible types; raises ``ValueError`` past the end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def i16(self) -> int:
        return int(_I16.unpack(self._take(2))[0])

    def i32(self) -> int:
        return int(_I32.unpack(self._take(4))[0])

    def i64(self) -> int:
        return int(_I64.unpack(self._take(8))[0])

    def nullable_string(self) -> str | None:
        n = self.i16()
        return None if n == -1 else self._take(n).decode()

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise ValueError("null string")
        return value

    def bytes_(self) -> bytes:
        n = self.i32()
        return b"" if n == -1 else self._take(n)


def _offset_value(r: _Reader, version: int) -> OffsetValue:
    offset = r.i64()
    epoch = r.i32() if version >= 3 else -1
    metadata = r.string()
    timestamp = r.i64()
    if version == 1:
        r.i64()  # expire timestamp
    return OffsetValue(offset, epoch, metadata, timestamp)


def _group_value(r: _Reader, version: int) -> GroupValue:
    protocol_type = r.string()
    generation = r.i32()
    protocol = r.nullable_string()
    leader = r.nullable_string()
    state_timestamp = r.i64() if version >= 2 else -1
    members = []
    for _ in range(r.i32()):
        member_id = r.string()
        instance = r.nullable_string() if version >= 3 else None
        client_id = r.string()
        client_host = r.string()
        rebalance = r.i32() if version >= 1 else -1
        session = r.i32()
        members.append(
            MemberValue(
                member_id, instance, client_id, client_host, rebalance, session, r.bytes_(), r.bytes_()
            )
        )
    return GroupValue(protocol_type, generation, protocol, leader, state_timestamp, tuple(members))


Key = OffsetKey | GroupKey
Value = OffsetValue | GroupValue


def decode_record(key: bytes | None, value: bytes | None) -> tuple[Key, Value | None] | None:
    """A record's key and value (``None`` value: a tombstone), or ``None`` if it is not readable."""
    if key is None:
        return None
    try:
        r = _Reader(key)
        key_version = r.i16()
        parsed: Key
        if key_version in (0, 1):
            parsed = OffsetKey(r.string(), r.string(), r.i32())
        elif key_version == GROUP_KEY_VERSION:
            parsed = GroupKey(r.string())
        else:
            return None
        if value is None:
            return parsed, None
        v = _Reader(value)
        value_version = v.i16()
        if isinstance(parsed, OffsetKey) and 0 <= value_version <= 3:
            return parsed, _offset_value(v, value_version)
        if isinstance(parsed, GroupKey) and 0 <= value_version <= 3:
            return parsed, _group_value(v, value_version)
    except (ValueError, UnicodeDecodeError, struct.error):
        return None
    return None


def subscribed_topics(subscription: bytes) -> frozenset[str] | None:
    """The topics of a ``consumer`` protocol subscription (``ConsumerProtocolSubscription``:
    version, topics, ...), or ``None`` if unreadable (Kafka then counts every topic subscribed)."""
    try:
        r = _Reader(subscription)
        r.i16()
        count = r.i32()
        if count < 0:
            return None
        return frozenset(r.string() for _ in range(count))
    except (ValueError, UnicodeDecodeError, struct.error):
        return None


__all__ = [
    "OFFSETS_TOPIC",
    "GroupKey",
    "GroupValue",
    "MemberValue",
    "OffsetKey",
    "OffsetValue",
    "decode_record",
    "encode_group_key",
    "encode_group_value",
    "encode_offset_key",
    "encode_offset_value",
    "java_string_hash",
    "partition_for",
    "subscribed_topics",
]
