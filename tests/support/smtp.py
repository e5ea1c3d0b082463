"""A real SMTP server for tests (aiosmtpd on 127.0.0.1), with optional STARTTLS, implicit TLS
and AUTH, able to refuse recipients or messages with any SMTP reply::

    with SMTPServer() as smtp:                        # plain SMTP, no auth
        settings = make_settings(tmp_path, smtp_url=smtp.url)
        ...
        mail = smtp.messages[0]                       # an email.message.EmailMessage
        assert mail["Subject"] == "..."

    SMTPServer(tls="starttls", auth=("user", "pass"))  # needs `certificate(tmp_path)`
    SMTPServer(tls="smtps", ...)                       # TLS from the first byte

    smtp.refuse_next_rcpt("550 5.1.1 No such user")   # the next RCPT TO is refused
    smtp.refuse_next_data("451 4.3.0 Try again later")  # the next DATA is refused

The TLS modes take a certificate made by :func:`certificate` (the ``openssl`` command line);
point the client at it with ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections import deque
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["SMTPServer", "certificate"]


def certificate(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key), or None without
    the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _free_port() -> int:
    # aiosmtpd checks readiness by connecting to its port, so it needs the number up front.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.server._pop(self.server._rcpt_replies)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        reply = self.server._pop(self.server._data_replies)
        if reply is not None:
            return reply
        raw = envelope.original_content or envelope.content
        mail = message_from_bytes(raw, policy=policy.default)
        with self.server._lock:
            self.server.envelopes.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "raw": raw,
                    "tls": session.ssl is not None,
                    "auth": session.authenticated,
                }
            )
            self.server.messages.append(mail)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class SMTPServer:
    """aiosmtpd in a thread. ``url`` is what ``MONITOR_SMTP_URL`` should be."""

    def __init__(
        self,
        *,
        tls: Literal["none", "starttls", "smtps"] = "none",
        cert: tuple[Path, Path] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._rcpt_replies: deque[str] = deque()
        self._data_replies: deque[str] = deque()
        self.tls = tls
        self.auth = auth
        context = None
        if tls != "none":
            if cert is None:
                raise ValueError("a TLS mode needs cert=certificate(tmp_path)")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": _free_port()}
        if tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=auth is not None)
        elif tls == "smtps":
            kwargs.update(ssl_context=context)
        if auth is not None:
            # Over implicit TLS aiosmtpd cannot tell the session is encrypted, and warns when
            # AUTH is required without TLS; there AUTH is offered but not required.
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=tls == "starttls",
                auth_require_tls=tls == "starttls",
            )
        self._controller = Controller(_Handler(self), **kwargs)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if (
            isinstance(auth_data, LoginPassword)
            and self.auth is not None
            and auth_data.login.decode() == self.auth[0]
            and auth_data.password.decode() == self.auth[1]
        ):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def _pop(self, replies: deque[str]) -> str | None:
        with self._lock:
            return replies.popleft() if replies else None

    def refuse_next_rcpt(self, reply: str = "550 5.1.1 No such user here") -> None:
        with self._lock:
            self._rcpt_replies.append(reply)

    def refuse_next_data(self, reply: str = "451 4.3.0 Please try again later") -> None:
        with self._lock:
            self._data_replies.append(reply)

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> SMTPServer:
        self._controller.start()
        return self

    def close(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def url(self) -> str:
        scheme = "smtps" if self.tls == "smtps" else "smtp"
        credentials = ""
        if self.auth:
            credentials = f"{quote(self.auth[0], safe='')}:{quote(self.auth[1], safe='')}@"
        return f"{scheme}://{credentials}127.0.0.1:{self.port}"
