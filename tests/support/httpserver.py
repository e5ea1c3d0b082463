"""The base of the local HTTP servers that stand in for feeds, pages and Slack in tests."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietHTTPServer(ThreadingHTTPServer):
    """Daemon threads and address reuse, as ThreadingHTTPServer has them."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout or size-limit test) closed its end: not an error
        # here, and its traceback in the test output would only hide real ones.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
