"""Credentials out of text that people read: URL passwords and secret-looking query values.

The dashboard (pages and API) and ``monitor feeds list`` show feed URLs and the errors that
quote them; both scrub them with :func:`scrub`, one rule for every place.
"""

from __future__ import annotations

import re

__all__ = ["scrub"]

# ``scheme://user:password@`` anywhere in a text, e.g. inside an HTTP client's error message.
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@]*):[^\s/@]*@", re.IGNORECASE)
# A query parameter whose value is a credential, as in the feed URLs people paste (?api_key=).
_SECRET_PARAM = re.compile(
    r"([?&][^=\s&#]*(?:key|token|secret|pass|auth|sig)[^=\s&#]*=)[^&\s#'\"]*", re.IGNORECASE
)


def scrub(text: str | None) -> str | None:
    """``text`` with URL passwords and secret-looking query values replaced by ``***``.

    Feed URLs and the errors quoting them reach pages, the API and ``monitor feeds list``; a
    feed behind basic auth or an API key must not hand its credentials to everyone who can
    read them.
    """
    if not text:
        return text
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1:***@", text))
