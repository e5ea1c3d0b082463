"""Main-text extraction of an article page, for feeds with ``fulltext: true``.

News pages carry much more than their story: navigation, 'More like this' boxes with other
headlines, share bars, subscribe banners. Matching those would alert a desk about a story the
page is not about, so only the main text is kept. trafilatura does the extraction: it is
maintained, fast and scores best among open-source extractors on news pages.
"""

from __future__ import annotations

import trafilatura

from monitor.feeds.limits import CONTENT_CHARS, TITLE_CHARS, capped
from monitor.feeds.normalise import clean_text

__all__ = ["extract_main_text", "page_title"]


def extract_main_text(html: str, *, url: str | None = None) -> str:
    """The story's text of an HTML page as clean plain text, or ``""`` when none is found."""
    if not html or not html.strip():
        return ""
    text = trafilatura.extract(
        html,
        url=url,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        favor_precision=True,
        deduplicate=True,
    )
    if not text:
        return ""
    # trafilatura returns paragraphs on separate lines; keep them, but clean each one.
    lines = (clean_text(line) for line in text.splitlines())
    # Held to the same limit as a feed's own content: it replaces it.
    return capped("\n".join(line for line in lines if line), CONTENT_CHARS)


def page_title(html: str, *, url: str | None = None) -> str:
    """The story's headline as the page gives it (og:title, the headline, <title> less the
    site's name), for a story known only by its link (a plain sitemap's); ``""`` if none."""
    if not html or not html.strip():
        return ""
    metadata = trafilatura.extract_metadata(html, default_url=url)
    title = getattr(metadata, "title", None) if metadata is not None else None
    return capped(clean_text(title), TITLE_CHARS) if title else ""
