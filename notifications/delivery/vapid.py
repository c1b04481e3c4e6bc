"""VAPID keys for Web Push: from the environment, else generated once and kept in a git-ignored file."""

import base64
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

_lock = threading.Lock()
_cached: "VapidKeys | None" = None


@dataclass(frozen=True)
class VapidKeys:
    public_key: str  # application server key: base64url uncompressed P-256 point (what browsers subscribe with)
    private_key: str  # base64url raw 32-byte scalar (what pywebpush signs with)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_keys_generate() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return VapidKeys(public_key=_b64(public), private_key=_b64(private))


def _load_or_create(path: Path) -> VapidKeys:
    if path.exists():
        data = json.loads(path.read_text())
        return VapidKeys(public_key=data["public_key"], private_key=data["private_key"])
    keys = vapid_keys_generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"public_key": keys.public_key, "private_key": keys.private_key}, handle)
    try:
        os.link(tmp, path)  # fails if another process won the race: then everyone uses its pair
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _load_or_create(path)


def vapid_keys() -> VapidKeys:
    global _cached
    if settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY:
        return VapidKeys(public_key=settings.VAPID_PUBLIC_KEY, private_key=settings.VAPID_PRIVATE_KEY)
    with _lock:
        if _cached is None or _cached_path != settings.VAPID_KEY_FILE:
            _set_cache(_load_or_create(Path(settings.VAPID_KEY_FILE)))
        assert _cached is not None
        return _cached


_cached_path = ""


def _set_cache(keys: VapidKeys) -> None:
    global _cached, _cached_path
    _cached, _cached_path = keys, settings.VAPID_KEY_FILE
