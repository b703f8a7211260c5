"""The network seam: framing, the simulated network, and a small RPC layer.

* :mod:`reflog.net.framing`: Kafka's length-prefixed frames over any trio stream;
* :mod:`reflog.net.sim`: :class:`SimNetwork`, the deterministic in-memory network with
  per-link faults (drop, delay, duplicate, reorder, partitions, node death);
* :mod:`reflog.net.rpc`: request/response with correlation ids over a framed stream;
* :mod:`reflog.net.tls`: TLS listeners for the simulated network (``SimNetwork.enable_tls``):
  real TLS (``trio.SSLStream``) with certificates from a private ``trustme`` CA, and counters;
* :mod:`reflog.net.errors`: the seam's errors, all :class:`~reflog.errors.ReflogError`\\ s.

The TCP transport and the Kafka wire protocol come later; see
``specs/drafts/network.md``.
"""

from reflog.net.errors import (
    ConnectRefusedError,
    FrameError,
    FrameSizeError,
    FrameTruncatedError,
    NetError,
    RemoteError,
    RpcConnectionError,
    RpcError,
    RpcProtocolError,
    RpcTimeout,
)
from reflog.net.framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, FrameReader, encode_frame, send_frame
from reflog.net.rpc import RpcClient, serve_rpc, serve_rpc_listener
from reflog.net.sim import (
    LinkFaults,
    LinkKey,
    LinkStats,
    NetEvent,
    NetStream,
    SimListener,
    SimNetwork,
    SimStream,
)
from reflog.net.tls import TlsMaterial, TlsStats, TlsStream

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "ConnectRefusedError",
    "FrameDecoder",
    "FrameError",
    "FrameReader",
    "FrameSizeError",
    "FrameTruncatedError",
    "LinkFaults",
    "LinkKey",
    "LinkStats",
    "NetError",
    "NetEvent",
    "NetStream",
    "RemoteError",
    "RpcClient",
    "RpcConnectionError",
    "RpcError",
    "RpcProtocolError",
    "RpcTimeout",
    "SimListener",
    "SimNetwork",
    "SimStream",
    "TlsMaterial",
    "TlsStats",
    "TlsStream",
    "encode_frame",
    "send_frame",
    "serve_rpc",
    "serve_rpc_listener",
]
