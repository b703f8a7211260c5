"""The one exception hierarchy of reflog.

Every error reflog raises on purpose derives from :class:`ReflogError`, and every one carries
its Kafka protocol error as an :class:`Errors` member (``error_code``: the code a Kafka client
would see on the wire; ``UNKNOWN_SERVER_ERROR`` when no Kafka error fits) and says whether a
client may ``retriable``-ly try again, as Kafka marks that code. :class:`Errors` is the one
error-code system: no integer codes stand beside it. One place, :func:`error_code_for`, maps
any exception to a code.

Two kinds are kept apart, as h11 does:

* *peer or data errors* (corrupt bytes on disk, a malformed request): the input
  was bad, reflog refuses it and stays healthy;
* *usage errors* (:class:`ReflogUsageError`): the calling code broke an API
  contract (for example appended to a closed log).
"""

from __future__ import annotations

import enum


class Errors(enum.IntEnum):
    """A Kafka protocol error code, with whether a client may retry."""

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    MESSAGE_TOO_LARGE = 10
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    NETWORK_EXCEPTION = 13
    UNSUPPORTED_VERSION = 35
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    INVALID_REQUEST = 42
    DUPLICATE_SEQUENCE_NUMBER = 46
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    INVALID_PRODUCER_EPOCH = 47
    INVALID_TXN_STATE = 48
    KAFKA_STORAGE_ERROR = 56
    UNSUPPORTED_COMPRESSION_TYPE = 76
    MEMBER_ID_REQUIRED = 79
    GROUP_ID_NOT_FOUND = 69
    INVALID_RECORD = 87
    STALE_BROKER_EPOCH = 77
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    INVALID_UPDATE_VERSION = 95
    UNKNOWN_TOPIC_ID = 100
    INELIGIBLE_REPLICA = 107
    NEW_LEADER_ELECTED = 108
    DUPLICATE_BROKER_REGISTRATION = 101
    BROKER_ID_NOT_REGISTERED = 102

    @classmethod
    def of(cls, code: int) -> Errors:
        """The member for a Kafka error code; ``UNKNOWN_SERVER_ERROR`` for codes reflog does not use."""
        try:
            return cls(code)
        except ValueError:
            return cls.UNKNOWN_SERVER_ERROR

    @property
    def retriable(self) -> bool:
        """Whether Kafka marks this error retriable (a client may resend the same request)."""
        return self in _RETRIABLE


_RETRIABLE = frozenset(
    {
        Errors.CORRUPT_MESSAGE,
        Errors.UNKNOWN_TOPIC_OR_PARTITION,
        Errors.LEADER_NOT_AVAILABLE,
        Errors.NOT_LEADER_OR_FOLLOWER,
        Errors.REQUEST_TIMED_OUT,
        Errors.COORDINATOR_NOT_AVAILABLE,
        Errors.NOT_COORDINATOR,
        Errors.NOT_ENOUGH_REPLICAS,
        Errors.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        Errors.KAFKA_STORAGE_ERROR,
        Errors.NETWORK_EXCEPTION,
        Errors.FENCED_LEADER_EPOCH,
        Errors.UNKNOWN_LEADER_EPOCH,
        Errors.UNKNOWN_TOPIC_ID,
    }
)


class ReflogError(Exception):
    """Root of every error reflog raises deliberately."""

    #: Kafka's protocol error for this error (``UNKNOWN_SERVER_ERROR`` = -1 by default).
    error_code: Errors = Errors.UNKNOWN_SERVER_ERROR
    #: Whether a Kafka client would retry the request that produced this error.
    retriable: bool = False


class ReflogUsageError(ReflogError):
    """The caller misused an API (a bug in the calling code, not bad data)."""


class CorruptRecordError(ReflogError):
    """Bytes that should hold a record batch do not decode or fail their CRC.

    Kafka's ``CORRUPT_MESSAGE`` (code 2). Raised by the record codec for any
    malformed input and by the log when stored bytes fail validation.
    """

    error_code = Errors.CORRUPT_MESSAGE
    retriable = True


class InvalidRecordError(ReflogError):
    """A well-formed batch that the broker must refuse (Kafka's ``INVALID_RECORD``, 87)."""

    error_code = Errors.INVALID_RECORD


class OffsetOutOfRangeError(ReflogError):
    """A fetch asked for an offset outside [log start offset, log end offset] (code 1)."""

    error_code = Errors.OFFSET_OUT_OF_RANGE


class StorageError(ReflogError):
    """An I/O error from the storage layer (Kafka's ``KAFKA_STORAGE_ERROR``, 56).

    ``errno`` is the operating system's error number (``EIO``, ``ENOSPC``, ...),
    ``path`` the file it concerns when known.
    """

    error_code = Errors.KAFKA_STORAGE_ERROR
    retriable = True

    def __init__(self, message: str, *, errno: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.path = path


class LogOfflineError(StorageError):
    """The log's directory went offline after an I/O error; every append now fails.

    Kafka (KIP-112) marks the log directory offline on the first ``IOException``
    and never retries the failed fsync: a retry could report success for data that
    never reached the disk (fsyncgate). The log stays offline until it is reopened.
    """


def error_code_for(exc: BaseException) -> Errors:
    """Kafka error code to report for ``exc``: its own code, or UNKNOWN_SERVER_ERROR (-1)."""
    if isinstance(exc, ReflogError):
        return exc.error_code
    return Errors.UNKNOWN_SERVER_ERROR


class RecordBatchTooLargeError(ReflogError):
    """A produced batch larger than ``segment.bytes`` (Kafka's ``RECORD_LIST_TOO_LARGE``, 18)."""

    error_code = Errors.RECORD_LIST_TOO_LARGE


class MessageTooLargeError(ReflogError):
    """A batch larger than ``max.message.bytes`` (Kafka's ``MESSAGE_TOO_LARGE``, 10).

    Kafka's ``RecordTooLargeException``: ``UnifiedLog`` raises it for a batch whose size exceeds
    the topic's ``max.message.bytes``; it is not retriable.
    """

    error_code = Errors.MESSAGE_TOO_LARGE


class InvalidConfigError(ReflogError):
    """A topic config that Kafka would refuse (``INVALID_CONFIG``, 40): unknown name or bad value."""

    error_code = Errors.INVALID_CONFIG


class RequestRefusedError(ReflogError):
    """A request the controller or a broker refused with a Kafka error code.

    ``error_code`` is that code, so a caller branches on the :class:`Errors` member, never on
    the message text.
    """

    def __init__(self, error: Errors, message: str) -> None:
        super().__init__(message)
        self.error_code = error
        self.retriable = error.retriable


class TopicRefusedError(RequestRefusedError, ReflogUsageError):
    """A topic the controller will not create, with Kafka's code for why.

    ``TOPIC_ALREADY_EXISTS``, ``INVALID_PARTITIONS``, ``INVALID_REPLICATION_FACTOR`` (also for more
    replicas than registered or active brokers, as Kafka's KRaft controller answers),
    ``INVALID_REPLICA_ASSIGNMENT`` or ``INVALID_CONFIG``. Called in process it is also a
    :class:`ReflogUsageError`: the caller asked for something that cannot be.
    """
