"""The errors of the network seam, all under :class:`NetError` (a :class:`~reflog.errors.ReflogError`).

Kafka error codes follow what a Kafka client would report for the same condition: a
broken or refused connection is ``NETWORK_EXCEPTION`` (13, retriable), a request that got
no answer in time is ``REQUEST_TIMED_OUT`` (7, retriable). A peer that breaks the framing
or the RPC envelope is a *peer error* (:class:`FrameError`, :class:`RpcProtocolError`): the
receiving side refuses the bytes and closes that one connection, as Kafka's ``Selector``
does. API misuse raises :class:`~reflog.errors.ReflogUsageError` instead.
"""

from __future__ import annotations

from reflog.errors import Errors, ReflogError


class NetError(ReflogError):
    """Root of the network seam's errors (Kafka's ``NETWORK_EXCEPTION``, 13, retriable)."""

    error_code = Errors.NETWORK_EXCEPTION
    retriable = True


class FrameError(NetError):
    """The bytes on a stream do not form valid length-prefixed frames (a peer error)."""


class FrameSizeError(FrameError):
    """A frame's size prefix is negative or larger than the receiver's maximum frame size.

    Raised as soon as the 4-byte prefix is read, before any of the payload is buffered
    (Kafka's ``InvalidReceiveException``). Also raised by the sending side for a payload
    that exceeds its own maximum.
    """


class FrameTruncatedError(FrameError):
    """The stream ended (EOF) in the middle of a frame."""


class ConnectRefusedError(NetError):
    """A simulated connect could not be made: the destination is not listening or is down,
    the source is down, or a partition cuts the link (reflog's counterpart of the builtin
    ``ConnectionRefusedError``)."""


class RpcError(NetError):
    """Root of the request/response layer's errors."""


class RpcTimeout(RpcError):  # noqa: N818 -- named after the condition, as the brief and trio's TooSlowError
    """No response arrived within the call's timeout (Kafka's ``REQUEST_TIMED_OUT``, 7, retriable).

    The connection stays open; a response that arrives later is discarded.
    """

    error_code = Errors.REQUEST_TIMED_OUT
    retriable = True


class RpcConnectionError(RpcError):
    """The connection under an RPC client broke or was closed before the response arrived."""


class RpcProtocolError(RpcConnectionError):
    """The peer sent bytes that are not a valid RPC envelope (bad framing, undecodable payload,
    unknown message kind). The receiving side closes that connection, and only it."""


class RemoteError(RpcError):
    """The remote handler raised; carries the remote exception's type name and message.

    ``remote_error_code`` and ``remote_retriable`` are the remote exception's own Kafka
    code and retriability when it was a :class:`~reflog.errors.ReflogError`, otherwise
    ``-1`` (``UNKNOWN_SERVER_ERROR``) and ``False``.
    """

    error_code = Errors.UNKNOWN_SERVER_ERROR
    retriable = False

    def __init__(
        self,
        remote_type: str,
        remote_message: str,
        *,
        remote_error_code: int = -1,
        remote_retriable: bool = False,
    ) -> None:
        super().__init__(f"{remote_type}: {remote_message}")
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_error_code = remote_error_code
        self.remote_retriable = remote_retriable
