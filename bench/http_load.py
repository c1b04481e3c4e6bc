"""A closed-loop HTTP/1.1 load: N keep-alive clients, each sending its next request when the answer arrived.

Requests are pre-encoded bytes on raw sockets (http.client's own parsing would cost the shared CPUs more than the
server's work for a small request). Clients are spread over the web processes as a load balancer would.
"""

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Load:
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _exchange(sock: socket.socket, request: bytes, buffer: bytearray) -> int:
    """Send one request, read one response (Content-Length framed, as DRF answers); returns the status."""
    sock.sendall(request)
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        rest += chunk
    buffer[:] = rest[length:]
    return status


def run(ports: list[int], clients: int, seconds: float, make_request: Callable[[int, int], bytes]) -> Load:
    """`make_request(client, n)` gives the bytes of client's n-th request. Runs every client for `seconds`."""
    load = Load()
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        sock = socket.create_connection(("127.0.0.1", ports[index % len(ports)]))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        barrier.wait()
        n = 0
        try:
            while time.perf_counter() < deadline[0]:
                request = make_request(index, n)
                t0 = time.perf_counter()
                status = _exchange(sock, request, buffer)
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                n += 1
        finally:
            sock.close()
            with lock:
                load.latencies_ms += latencies
                for status, count in statuses.items():
                    load.statuses[status] = load.statuses.get(status, 0) + count

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - started
    return load
