"""What of a URL a person may see: no user name or password, and query values only under names
known to be harmless.

This is the one rule for every URL we show or log: feed URLs and the errors quoting them on
the dashboard and in the API, the database and broker URLs the command line prints. A feed
behind a paywall or an API carries its credential in many shapes, and each was seen leaking:

- userinfo of any shape: ``https://user:pass@host``, a token alone as the user name
  (``https://ghp_x@host``), and an ``@`` or a ``/`` inside the password. Everything between
  ``//`` and the host's last ``@`` is replaced by ``***``, the user name included.
- query values: ``?api_key=``, but also ``?code=``, ``?hash=``, ``?k=``, ``?sig=``: names are not
  a reliable sign of a secret, so every value is replaced by ``***`` unless its name is in
  :data:`HARMLESS_PARAMS` (format, page, language, category, ...). A name without a value
  (``?a1b2c3``) may be the secret itself and is replaced the same way. A fragment made of
  ``name=value`` pairs follows the same rule.

A token in the path (``/feeds/<token>/rss``) cannot be told from a path and is left alone.
"""

from __future__ import annotations

import re
from typing import overload

__all__ = ["HARMLESS_PARAMS", "redact_url", "scrub"]

MASK = "***"

# Query names whose values say how a feed is shaped, never who may read it: the feed
# conventions of WordPress, Blogger, YouTube, Google News and the common CMSs, and the
# libpq and Redis options a database or broker URL may carry. Compared in lower case.
HARMLESS_PARAMS = frozenset(
    {
        # what and how much
        "format",
        "type",
        "output",
        "outputtype",
        "alt",
        "feed",
        "rss",
        "atom",
        "view",
        "mode",
        "layout",
        "version",
        "page",
        "paged",
        "limit",
        "count",
        "num",
        "max",
        "sort",
        "order",
        "orderby",
        # which part of the site
        "category",
        "cat",
        "tag",
        "tags",
        "topic",
        "section",
        "channel_id",
        "playlist_id",
        "edition",
        "region",
        "country",
        # language
        "lang",
        "language",
        "locale",
        "hl",
        "gl",
        "ceid",
        # a search feed's terms
        "q",
        "query",
        "search",
        # database and broker options
        "sslmode",
        "connect_timeout",
        "application_name",
        "db",
    }
)

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# A URL inside a text (an HTTP client's error message), up to what ends it in prose or markup:
# a space, a quote or a bracket, and not the punctuation after it ('see https://x/a?k=1.').
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>.,:;!?)\]]")
# A path with a query but no scheme, as some errors quote the request: ``GET /rss?k=...``.
_PATH_IN_TEXT = re.compile(r"(?<![\w:/])/[^\s'\"<>?]*\?[^\s'\"<>]*[^\s'\"<>.,:;!?)\]]")


def redact_url(url: str) -> str:
    """*url* with its userinfo replaced by ``***`` and every query value whose name is not in
    :data:`HARMLESS_PARAMS` replaced by ``***``. Never raises, whatever the text."""
    match = _SCHEME.match(url)
    if match is None:
        return _redact_query(url)
    start = match.end()
    rest = url[start:]
    # The authority ends at the first '/', '?' or '#'; its last '@' ends the userinfo.
    end = _first(rest, "/?#")
    at = rest.rfind("@", 0, end)
    if at < 0:
        # A '/', '?' or '#' in the password ('user:pa/ss@host') ends the authority early,
        # leaving 'user:pa', whose port is not a number. Such a URL is broken anyway: mask
        # up to its last '@', even if that hides more than the password.
        authority = rest[:end]
        _, colon, port = authority.rpartition(":")
        if colon and not port.isdigit() and not authority.endswith("]"):
            at = rest.rfind("@")
    if at >= 0:
        rest = f"{MASK}@{rest[at + 1 :]}"
    return url[:start] + _redact_query(rest)


@overload
def scrub(text: str) -> str: ...
@overload
def scrub(text: None) -> None: ...
def scrub(text: str | None) -> str | None:
    """*text* (an error message, a label) with every URL in it redacted by :func:`redact_url`
    and every path-with-query's values masked the same way."""
    if not text:
        return text
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _PATH_IN_TEXT.sub(lambda m: _redact_query(m.group(0)), text)


def _first(text: str, stops: str) -> int:
    """The index of the first of *stops* in *text*, or its length."""
    found = [i for i in (text.find(stop) for stop in stops) if i >= 0]
    return min(found) if found else len(text)


def _redact_query(text: str) -> str:
    """The query and the fragment of a URL without its scheme and authority, masked."""
    before, question, after = text.partition("?")
    if question:
        query, hash_mark, fragment = after.partition("#")
        after = _masked_pairs(query) + hash_mark + _masked_fragment(fragment)
        return before + question + after
    before, hash_mark, fragment = text.partition("#")
    return before + hash_mark + _masked_fragment(fragment)


def _masked_fragment(fragment: str) -> str:
    # '#section-2' is an anchor; '#access_token=...' is OAuth's implicit flow.
    return _masked_pairs(fragment) if "=" in fragment else fragment


def _masked_pairs(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if name.lower() in HARMLESS_PARAMS or not pair:
            pairs.append(pair)
        elif equals:
            pairs.append(f"{name}={MASK}" if value else pair)
        else:
            pairs.append(MASK)
    return "&".join(pairs)
