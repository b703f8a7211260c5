"""The one exception hierarchy of reflog.

Every error reflog raises on purpose derives from :class:`ReflogError`. Errors that
correspond to a Kafka protocol error carry its numeric ``error_code`` (the code a
Kafka client would see on the wire) and say whether a client may ``retriable``-ly
try again. One place, :func:`error_code_for`, maps any exception to a code.

Two kinds are kept apart, as h11 does:

* *peer or data errors* (corrupt bytes on disk, a malformed request): the input
  was bad, reflog refuses it and stays healthy;
* *usage errors* (:class:`ReflogUsageError`): the calling code broke an API
  contract (for example appended to a closed log).
"""

from __future__ import annotations

from typing import ClassVar


class ReflogError(Exception):
    """Root of every error reflog raises deliberately."""

    #: Kafka's protocol error code for this error (``UNKNOWN_SERVER_ERROR`` = -1 by default).
    error_code: ClassVar[int] = -1
    #: Whether a Kafka client would retry the request that produced this error.
    retriable: ClassVar[bool] = False


class ReflogUsageError(ReflogError):
    """The caller misused an API (a bug in the calling code, not bad data)."""


class CorruptRecordError(ReflogError):
    """Bytes that should hold a record batch do not decode or fail their CRC.

    Kafka's ``CORRUPT_MESSAGE`` (code 2). Raised by the record codec for any
    malformed input and by the log when stored bytes fail validation.
    """

    error_code = 2
    retriable = True


class InvalidRecordError(ReflogError):
    """A well-formed batch that the broker must refuse (Kafka's ``INVALID_RECORD``, 87)."""

    error_code = 87


class OffsetOutOfRangeError(ReflogError):
    """A fetch asked for an offset outside [log start offset, log end offset] (code 1)."""

    error_code = 1


class StorageError(ReflogError):
    """An I/O error from the storage layer (Kafka's ``KAFKA_STORAGE_ERROR``, 56).

    ``errno`` is the operating system's error number (``EIO``, ``ENOSPC``, ...),
    ``path`` the file it concerns when known.
    """

    error_code = 56
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


def error_code_for(exc: BaseException) -> int:
    """Kafka error code to report for ``exc``: its own code, or UNKNOWN_SERVER_ERROR (-1)."""
    if isinstance(exc, ReflogError):
        return exc.error_code
    return -1


class RecordBatchTooLargeError(ReflogError):
    """A produced batch larger than ``segment.bytes`` (Kafka's ``RECORD_LIST_TOO_LARGE``, 18)."""

    error_code = 18


class MessageTooLargeError(ReflogError):
    """A batch larger than ``max.message.bytes`` (Kafka's ``MESSAGE_TOO_LARGE``, 10).

    Kafka's ``RecordTooLargeException``: ``UnifiedLog`` raises it for a batch whose size exceeds
    the topic's ``max.message.bytes``; it is not retriable.
    """

    error_code = 10


class InvalidTxnStateError(ReflogError):
    """A transactional batch outside any ongoing transaction (Kafka's ``INVALID_TXN_STATE``, 48)."""

    error_code = 48


class InvalidConfigError(ReflogError):
    """A topic config that Kafka would refuse (``INVALID_CONFIG``, 40): unknown name or bad value."""

    error_code = 40
