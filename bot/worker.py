"""The gunicorn worker: gthread, with a deadline on reading each request.

gunicorn's threaded worker hands a connection to a thread as soon as it is readable and
the thread then reads the request with blocking calls, so a client that sends its headers
slowly holds a thread for as long as it likes: eight of them once stopped the bot
answering anyone. Here every request must arrive whole within
:data:`REQUEST_READ_SECONDS` (Slack's are a few kilobytes, sent at once) or its connection
is closed, and the worker has many more threads than Slack will ever need at once, so a
few dozen slow or idle connections cost the reps nothing.

It also counts each request from the moment it is handed to a thread until it has been
handled (:data:`bot.ack_first.PROCESS_ACKS`): the work pool lets those acks go first.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from bot.ack_first import PROCESS_ACKS

#: Seconds a client has to send one whole request (headers and body).
REQUEST_READ_SECONDS = 5.0


class DeadlineSocket:
    """A client socket whose reads share one deadline per request; all else passes through."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline: float | None = None

    def recv(self, size: int, *flags: int) -> bytes:
        if self.deadline is None:
            return self._sock.recv(size, *flags)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the client took too long to send its request")
        previous = self._sock.gettimeout()
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv(size, *flags)
        finally:
            self._sock.settimeout(previous)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class CoachWorker(ThreadWorker):  # type: ignore[misc]
    """gthread with :class:`DeadlineSocket` connections and the process's ack count."""

    def enqueue_req(self, conn: Any) -> None:
        PROCESS_ACKS.arrived()
        try:
            super().enqueue_req(conn)
        except BaseException:
            PROCESS_ACKS.acked()  # no thread will handle it
            raise

    def handle(self, conn: Any) -> Any:
        try:
            if not isinstance(conn.sock, DeadlineSocket):
                conn.sock = DeadlineSocket(conn.sock)
            conn.sock.deadline = time.monotonic() + REQUEST_READ_SECONDS
            return super().handle(conn)
        finally:
            PROCESS_ACKS.acked()
