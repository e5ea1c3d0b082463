"""Watchlists: the YAML files analysts write, validated, hot-reloaded and mirrored to the DB.

A watchlist is one YAML file under ``watchlists/`` (a file may also hold a list of them). The
file is the source of truth; the ``watchlists`` table mirrors what is in force so the
dashboard can show it. One module per step:

- :mod:`~monitor.watchlists.spec`: the file format, as pydantic models, and its JSON Schema;
- :mod:`~monitor.watchlists.load`: reading files into watchlists, every problem reported as
  ``path:line:col: message``, and each watchlist's examples checked;
- :mod:`~monitor.watchlists.registry`: the watchlists in force, reloaded as files change, a
  broken file keeping its last valid version;
- :mod:`~monitor.watchlists.mirror`: the ``watchlists`` table kept in step with the registry;
- :mod:`~monitor.watchlists.secrets`: the destinations this process cannot send to, for lack of
  the variable that holds their secret.

The names below are the public API; import them from here.
"""

from monitor.destinations import AlertSpec
from monitor.watchlists.load import (
    LoadResult,
    WatchlistError,
    load_file,
    load_watchlists,
    watchlist_files,
)
from monitor.watchlists.mirror import sync_watchlists
from monitor.watchlists.registry import WatchlistRegistry
from monitor.watchlists.secrets import Unsendable, unsendable_alerts, unsendable_destinations
from monitor.watchlists.spec import Example, Examples, WatchlistFile, WatchlistSpec, json_schema

__all__ = [
    "AlertSpec",
    "Example",
    "Examples",
    "LoadResult",
    "Unsendable",
    "WatchlistError",
    "WatchlistFile",
    "WatchlistRegistry",
    "WatchlistSpec",
    "json_schema",
    "load_file",
    "load_watchlists",
    "sync_watchlists",
    "unsendable_alerts",
    "unsendable_destinations",
    "watchlist_files",
]
