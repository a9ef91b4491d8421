"""Real servers on loopback sockets for the upstream generator's tests: a port nobody listens on,
a server that accepts and never answers, one that answers fixed bytes (garbage, an HTTP error, a
stream that never ends), and llama.cpp's OpenAI-compatible server on the small GGUF model."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA_CPP_PIN = "llama-cpp-python[server]==0.3.36"
NO_LLAMA_CPP_REASON = (
    "THE REAL-SERVER TESTS OF KGRAG_GENERATOR=openai DID NOT RUN: llama.cpp's OpenAI-compatible server is "
    f"not installed (pip install '{LLAMA_CPP_PIN}', which `make setup` does; it builds from source, ~4 min "
    "on 2 cores); with CI set they fail instead"
)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def has_llama_cpp_server() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "sse_starlette", "starlette_context"))


class SocketServer:
    """A loopback TCP server that gives each connection to ``handle`` in its own thread.

    ``closed`` is set when a client closes a connection the handler was writing to or reading
    from (``closes`` counts them); ``connections`` counts the accepted ones.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.connections = 0
        self.closes = 0
        self.closed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.handle(conn)
            except (BrokenPipeError, ConnectionResetError):
                self.client_closed()

    def client_closed(self) -> None:
        self.closes += 1
        self.closed.set()

    def wait_closes(self, n: int, timeout: float = 2.0) -> bool:
        """True once ``n`` connections were closed by their client, False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.closes < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    @staticmethod
    def read_request(conn: socket.socket) -> bytes:
        """The request's head and body (read up to its Content-Length)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def __enter__(self) -> SocketServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)


class SilentServer(SocketServer):
    """Accepts and reads the request, then never answers (a hung upstream)."""

    def handle(self, conn: socket.socket) -> None:
        self.read_request(conn)
        while not self._stop.is_set():
            if conn.recv(1) == b"":  # the client gave up
                self.client_closed()
                return


class FixedAnswerServer(SocketServer):
    """Answers every request with ``answer`` (raw bytes: status line, headers, body) and closes."""

    def __init__(self, answer: bytes) -> None:
        super().__init__()
        self.answer = answer

    def handle(self, conn: socket.socket) -> None:
        self.read_request(conn)
        conn.sendall(self.answer)


class EndlessStreamServer(SocketServer):
    """A chat-completion stream that sends one word every ``every_s`` and never finishes, until the
    client closes the connection (``closed`` is then set)."""

    def __init__(self, every_s: float = 0.05) -> None:
        super().__init__()
        self.every_s = every_s
        self.sent = 0

    def handle(self, conn: socket.socket) -> None:
        self.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        while not self._stop.is_set():
            event = b'data: {"choices": [{"index": 0, "delta": {"content": "word "}, "finish_reason": null}]}\n\n'
            conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
            self.sent += 1
            time.sleep(self.every_s)


def http_answer(status: str, content_type: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


class LlamaCppServer:
    """``python -m llama_cpp.server`` serving ``model`` (a GGUF) on a free loopback port, as a child
    process; ``url`` is its ``/v1``. Stopped (terminated, then killed) on exit."""

    def __init__(self, model: Path, log: Path, *, n_ctx: int = 4096, threads: int = 2,
                 start_timeout_s: float = 120) -> None:
        self.model, self.log, self.n_ctx, self.threads = model, log, n_ctx, threads
        self.start_timeout_s = start_timeout_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaCppServer:
        import httpx

        log = self.log.open("wb")  # a file, not a pipe: a full pipe would block the server
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
             "--model_alias", "smollm2-135m-instruct",
             # by default a new request cuts the running one short ([DONE] without a finish_reason, which
             # kgrag answers with 502): queue them instead, as a serving engine does
             "--interrupt_requests", "False"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self.proc.poll() is not None:
                err = self.log.read_text(errors="replace")
                raise RuntimeError(f"llama.cpp's server exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(f"{self.url}/models", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"llama.cpp's server did not answer on {self.url} within {self.start_timeout_s} s")
            time.sleep(0.2)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
