"""A loopback TCP proxy in front of a live server, to break connections the way networks do: drop an answer the
server already gave (the request was processed, the client never hears back), or cut every open connection."""

import socket
import threading


class Proxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.drop_answers = 0  # how many of the next connections lose the server's answer
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self.connections += 1
                drop = self.drop_answers > 0
                if drop:
                    self.drop_answers -= 1
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, drop), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, drop: bool) -> None:
        try:
            while data := source.recv(65536):
                if drop:  # the server answered: cut the connection instead of passing the answer on
                    break
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def cut_all(self) -> None:
        """Break every open connection (a network blip, a load balancer restart)."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.cut_all()
