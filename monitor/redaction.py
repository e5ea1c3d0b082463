"""Secrets taken out of text a person will read: URL credentials and secret-looking query values.

Feed URLs, and the errors that quote them (an HTTP client's message, a redirect's target), reach
the dashboard, the API and the command line. A feed behind basic auth or an API key must not
hand its credentials to whoever reads them: ``https://reader:pw@host/rss?api_key=k&page=2``
is shown as ``https://reader:***@host/rss?api_key=***&page=2``, and a URL whose user name is
itself a token (``https://t0ken@host/``) as ``https://***@host/``.
"""

from __future__ import annotations

import re
from typing import overload

__all__ = ["scrub"]

# ``scheme://user:password@`` anywhere in a text, e.g. inside an HTTP client's error message.
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@]*):[^\s/@]*@", re.IGNORECASE)
# ``scheme://token@``: a user name without a password is as often a credential.
_USER_ONLY = re.compile(r"(\b[a-z][a-z0-9+.-]*://)(?!\*\*\*@)[^\s/:@]+@", re.IGNORECASE)
# A query parameter whose value is a credential, as in the feed URLs people paste (?api_key=).
_SECRET_PARAM = re.compile(
    r"([?&][^=\s&#]*(?:key|token|secret|pass|auth|sig)[^=\s&#]*=)[^&\s#'\"]*", re.IGNORECASE
)


@overload
def scrub(text: str) -> str: ...
@overload
def scrub(text: None) -> None: ...
def scrub(text: str | None) -> str | None:
    """*text* with URL credentials and secret-looking query values replaced by ``***``."""
    if not text:
        return text
    text = _USERINFO.sub(r"\1:***@", text)
    text = _USER_ONLY.sub(r"\1***@", text)
    return _SECRET_PARAM.sub(r"\1***", text)
