"""Lingering close for the service's connections.

A socket closed while the client is still sending (a refused upload whose body was never read) makes
the kernel answer with a reset, and a reset throws away whatever of the response had not left yet:
the client sees the status line and an empty body, or nothing. So a connection the service closes
first sends what is written and a FIN, then reads and drops what still comes, for at most
LINGER_S seconds or LINGER_BYTES bytes, and only then closes. The same remedy as nginx's
lingering_close.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

LINGER_S = 2.0
LINGER_BYTES = 8 << 20


class LingeringTransport:
    """An asyncio transport whose first close() is a half-close followed by draining."""

    def __init__(self, transport: asyncio.Transport):
        self._transport = transport
        self.lingering = False
        self.dropped = 0

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.lingering or self._transport.is_closing() or not self._transport.can_write_eof():
            self._transport.close()  # a second close (server shutdown) does not wait
            return
        self.lingering = True
        self._transport.write_eof()  # the FIN goes after what is still buffered
        self._transport.resume_reading()  # a refused body may have paused reading
        asyncio.get_running_loop().call_later(LINGER_S, self._transport.close)

    def drop(self, data: bytes) -> None:
        self.dropped += len(data)
        if self.dropped > LINGER_BYTES:
            self._transport.close()


class LingeringH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol on a LingeringTransport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(LingeringTransport(transport))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self.transport.lingering:  # type: ignore[attr-defined]
            self.transport.drop(data)  # type: ignore[attr-defined]
            return
        super().data_received(data)
