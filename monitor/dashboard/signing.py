"""The dashboard's server secret and its HMAC, kept in :mod:`monitor.serverkey`.

The workers sign the action links of email alerts with the same key, so it lives below both;
this module keeps the dashboard's name for it.
"""

from __future__ import annotations

from monitor.serverkey import KEY_FILE, server_key, sign

__all__ = ["KEY_FILE", "server_key", "sign"]
