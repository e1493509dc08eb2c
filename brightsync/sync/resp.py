"""One Lua script called over a plain socket: the webhook's Redis round trip, without redis-py.

redis-py spends more CPU packing a command and parsing its reply (encoders, retry and
parser layers) than the rest of the webhook; this sends EVALSHA as prebuilt RESP bytes and
reads the integer reply. Only plain `redis://` URLs (host, port, user, password, db) are
spoken here; anything else (TLS, unix sockets) keeps redis-py (`script_caller` chooses).
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit


class RedisReplyError(Exception):
    """Redis answered the command with an error."""


def pack(*parts: bytes) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def parse_integer(line: bytes) -> int:
    """An integer reply (`:1`), or RedisReplyError for an error reply (`-NOSCRIPT …`)."""
    if line[:1] == b":":
        return int(line[1:])
    if line[:1] == b"-":
        raise RedisReplyError(line[1:].decode(errors="replace"))
    raise RedisReplyError(f"unexpected reply {line[:40]!r}")


class ScriptSocket:
    """A Lua script returning an integer, called by EVALSHA on one connection the process
    holds; the text goes once (EVAL on NOSCRIPT). A broken socket is dropped; a held one is
    tried once more afresh, a fresh one's error raised (the caller answers 503)."""

    def __init__(self, url: str, script: str, timeout: float = 3.0) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "localhost", parts.port or 6379)
        self.setup: list[bytes] = []
        if parts.password is not None:
            user = [unquote(parts.username).encode()] if parts.username else []
            self.setup.append(pack(b"AUTH", *user, unquote(parts.password).encode()))
        db = parts.path.strip("/")
        if db and db != "0":
            self.setup.append(pack(b"SELECT", db.encode()))
        self.script = script.encode()
        self.sha = hashlib.sha1(self.script).hexdigest().encode()
        # The command's fixed head, encoded once: a webhook packs only its keys and args.
        self.evalsha = pack(b"EVALSHA", self.sha)[4:]  # without the array header
        self.eval = pack(b"EVAL", self.script)[4:]
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.pending = b""
        self.lock = threading.Lock()  # one command at a time under threaded servers

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.pending = sock, b""
        for command in self.setup:
            sock.sendall(command)
            line = self._line()
            if not line.startswith(b"+"):
                self.close()
                raise RedisReplyError(line.decode(errors="replace"))
        return sock

    def _line(self) -> bytes:
        assert self.sock is not None
        if not self.pending:  # the usual case: the whole short reply in one read
            chunk = self.sock.recv(4096)
            if chunk[-2:] == b"\r\n" and chunk.count(b"\r\n") == 1:
                return chunk[:-2]
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.pending = chunk
        while b"\r\n" not in self.pending:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\r\n")
        return line

    def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> int:
        parts = [k.encode() for k in keys]
        parts += [a if isinstance(a, bytes) else str(a).encode() for a in args]
        tail = b"$%d\r\n%d\r\n" % (len(str(len(keys))), len(keys)) + b"".join(
            b"$%d\r\n%s\r\n" % (len(p), p) for p in parts
        )
        count = 3 + len(parts)  # EVALSHA|EVAL, the sha or the text, numkeys, then the parts
        with self.lock:
            return self._call(count, tail)

    def _call(self, count: int, tail: bytes) -> int:
        """One attempt; a held connection the server closed meanwhile (a restart, an idle
        timeout, CLIENT KILL) gets one more on a fresh one. Running the script twice is safe:
        its replay mark makes the second run answer "duplicate"."""
        reused = self.sock is not None
        try:
            return self._attempt(count, tail)
        except OSError:
            if not reused:
                raise
        return self._attempt(count, tail)

    def _attempt(self, count: int, tail: bytes) -> int:
        try:
            sock = self.sock or self._connect()
            sock.sendall(b"*%d\r\n%s" % (count, self.evalsha) + tail)
            try:
                return parse_integer(self._line())
            except RedisReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
            sock.sendall(b"*%d\r\n%s" % (count, self.eval) + tail)
            return parse_integer(self._line())
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


def script_caller(url: str, script: str, fallback: Callable[[], Any]) -> Callable[..., int]:
    """`(keys, args) -> int` for `script`: a ScriptSocket for a plain redis:// URL, else
    redis-py's registered script (`fallback()` makes it)."""
    if urlsplit(url).scheme == "redis":
        return ScriptSocket(url, script)
    registered = fallback()
    return lambda keys, args: int(registered(keys=keys, args=args))
