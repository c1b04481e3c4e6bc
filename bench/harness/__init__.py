"""Real processes and servers on loopback, shared by the test suite and the benchmarks.

- live.py     daphne on a free port, a private redis-server, a WebSocket client that keeps what it receives
- servers.py  an SMTP server (aiosmtpd) and a Web Push service that decrypts and verifies what it receives

Why here: the benchmarks must not import the test suite (bench runs without pytest, and a test refactor must not
break a measurement), while tests may import bench; the top level is fixed (no new top-level package), and these
need the dev requirements (websockets, aiosmtpd), so they stay out of the shipped `notifications` app. The modules
import nothing from `tests` or from Django settings.
"""
