"""Helpers shared by the network seam's tests."""

from __future__ import annotations

import trio

from reflog.net.framing import FrameReader, send_frame
from reflog.net.sim import SimListener, SimNetwork, SimStream

SEED = 7


async def connect_pair(
    net: SimNetwork, listener: SimListener, src: str, *, framed: bool = True
) -> tuple[SimStream, SimStream]:
    """Connect ``src`` to the listener's node; returns (client end, server end)."""
    client = await net.connect(src, listener.node, framed=framed)
    server = await listener.accept()
    assert server.conn_id == client.conn_id
    return client, server


async def send_numbered(stream: trio.abc.SendStream, count: int, *, start: int = 0) -> None:
    """Send frames whose payloads are the numbers ``start .. start+count-1`` as ASCII."""
    for i in range(start, start + count):
        await send_frame(stream, str(i).encode())


async def receive_for(reader: FrameReader, seconds: float) -> list[int]:
    """Numbered frames received within ``seconds`` of simulated time (stops early at EOF)."""
    got: list[int] = []
    with trio.move_on_after(seconds):
        while (frame := await reader.receive_frame()) is not None:
            got.append(int(frame))
    return got
