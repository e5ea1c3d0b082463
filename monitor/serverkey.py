"""The server's secret, and the signatures made with it: the dashboard's CSRF tokens and the
action links in email alerts.

The key is ``MONITOR_SECRET_KEY`` when it is set (several dashboards behind one address must
share it, and so must the workers that sign email links and the dashboard that checks them,
when they do not share one ``var_dir``), else a random key made on first start and kept in
``<var_dir>/secret_key``, readable by its owner only, so that signed tokens survive a
restart. The key is never logged and never part of an error: a message names the file, not
what is in it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from monitor.config import Settings
from monitor.errors import ConfigError

__all__ = ["KEY_FILE", "server_key", "sign"]

KEY_FILE = "secret_key"
_KEY_BYTES = 32


def server_key(settings: Settings) -> bytes:
    """The key that signs the dashboard's tokens: ``MONITOR_SECRET_KEY``, else the one in
    ``<var_dir>/secret_key``, made there (mode 0600) if there is none yet."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.var_dir) / KEY_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(
            f"cannot read the dashboard's secret key {path}: {exc.strerror}"
        ) from None
    try:
        _create(path)
        return _read(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot keep the dashboard's secret key in {path}: {exc.strerror}; "
            "set MONITOR_SECRET_KEY instead"
        ) from None


def sign(key: bytes, *parts: str) -> str:
    """An HMAC-SHA256 of *parts* (joined unambiguously), URL-safe base64 without padding."""
    message = b"\0".join(part.encode("utf-8", "surrogatepass") for part in parts)
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _read(path: Path) -> bytes:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 2 * _KEY_BYTES:
        raise ConfigError(
            f"the dashboard's secret key {path} is damaged (too short): delete it to make a new "
            "one, or set MONITOR_SECRET_KEY"
        )
    return key.encode()


def _create(path: Path) -> None:
    """Write a new key to *path*, unless another process got there first.

    The key is written to a file of its own (created 0600, before a byte is written) and then
    linked to *path*, which fails if *path* exists: two dashboards starting together on one
    var_dir end up with the same key, and neither ever reads half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(_KEY_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
