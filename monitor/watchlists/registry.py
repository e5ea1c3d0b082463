"""The watchlists in force, kept in step with the files of their directory by hot reload.

:class:`WatchlistRegistry` stats the files on every :meth:`~WatchlistRegistry.refresh` and
re-reads only those that changed. A file that became invalid is reported and the last valid
version of its watchlists stays in force; the other files are unaffected. Each change
compiles a new :class:`~monitor.matching.Matcher`, its words filed by their rarity in recent
articles.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.logs import get_logger
from monitor.matching import Document, Matcher
from monitor.matching.rarity import Rarity
from monitor.watchlists.load import WatchlistError, load_file, watchlist_files, without_duplicates
from monitor.watchlists.spec import WatchlistSpec

__all__ = ["FREEZE_AT", "RESAMPLE_AFTER", "WatchlistRegistry"]

# The package's name, as before it was split in modules: log lines keep their logger name.
log = get_logger("monitor.watchlists")

FREEZE_AT = 2_000  # watchlists; see WatchlistRegistry._rebuild
# How often the words watchlists are filed under are chosen again from recent articles
# (see monitor.matching.rarity): news vocabulary drifts, and a rebuild of 100,000
# watchlists takes some seconds.
RESAMPLE_AFTER = timedelta(hours=24)


@dataclass(slots=True)
class _FileState:
    stat: tuple[int, int]
    content_hash: str
    specs: list[WatchlistSpec]  # the last valid version
    errors: list[WatchlistError]
    ids: list[str]  # what the file names, even while it is broken


class WatchlistRegistry:
    """The watchlists of a directory, kept in step with the files by :meth:`refresh`.

    A watchlist without ``alerts:`` goes to ``MONITOR_DEFAULT_ALERTS``, else to the console
    (:func:`monitor.destinations.destinations_for`).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.specs: dict[str, WatchlistSpec] = {}
        self.errors: list[WatchlistError] = []
        self.version = 0
        self._files: dict[Path, _FileState] = {}
        self._matcher = Matcher([])
        self.rarity = Rarity()  # no sample yet: word length stands in for rarity
        self._sampled_at: datetime | None = None
        self.refresh()

    @property
    def matcher(self) -> Matcher:
        return self._matcher

    def get(self, watchlist_id: str) -> WatchlistSpec | None:
        return self.specs.get(watchlist_id)

    def file_states(self) -> dict[str, tuple[list[str], list[WatchlistError]]]:
        """For each file: the ids it names and its current errors."""
        return {str(p): (s.ids, s.errors) for p, s in self._files.items()}

    def refresh(
        self,
        *,
        sample: Callable[[], Iterable[Document]] | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Re-read the files that changed; return True when a file appeared, disappeared or
        changed content (what is in force may then differ, or only that file's errors).

        Cheap when nothing changed: one ``stat`` per file. *sample* returns recent articles:
        when given, word rarity is taken from them (see :mod:`monitor.matching.rarity`)
        whenever a file changed, and once every RESAMPLE_AFTER, which rebuilds the index with
        the same watchlists (and returns False: no file changed). While too few articles are
        stored to sample, *sample* is called again at every refresh.
        """
        now = now or datetime.now(UTC)
        resample = sample is not None and (
            self._sampled_at is None or now - self._sampled_at >= RESAMPLE_AFTER
        )
        paths = watchlist_files([self.directory]) if self.directory.is_dir() else []
        changed = False
        for gone in set(self._files) - set(paths):
            del self._files[gone]
            log.info("watchlist file removed", path=str(gone))
            changed = True
        for path in paths:
            try:
                st = path.stat()
                stat = (st.st_mtime_ns, st.st_size)
                state = self._files.get(path)
                if state is not None and state.stat == stat:
                    continue
                raw = path.read_bytes()
            except OSError:  # removed between listing and reading: next refresh drops it
                continue
            content_hash = hashlib.sha256(raw).hexdigest()
            if state is not None and state.content_hash == content_hash:
                state.stat = stat
                continue
            specs, errors, ids = load_file(path, raw)
            previous = state.specs if state is not None else []
            if errors:
                for error in errors:
                    log.warning("watchlist file invalid", path=str(path), error=str(error))
                if previous:
                    log.warning(
                        "keeping the last valid version in force",
                        path=str(path),
                        watchlist=",".join(s.id for s in previous),
                    )
            else:
                log.info("watchlists loaded", path=str(path), watchlist=",".join(ids))
            self._files[path] = _FileState(
                stat=stat,
                content_hash=content_hash,
                specs=previous if errors else specs,
                errors=errors,
                ids=ids,
            )
            changed = True
        reanchor = False
        if sample is not None and (changed or resample):
            rarity = Rarity.from_documents(sample())
            if rarity.sampled:  # else too few articles yet: ask again next time
                self._sampled_at = now
                log.info("word rarity sampled", articles=rarity.documents)
            reanchor = rarity.sampled or self.rarity.sampled
            self.rarity = rarity
        if changed or reanchor:
            self._rebuild()
        return changed

    def _rebuild(self) -> None:
        ordered = sorted(self._files.items())
        specs, duplicates = without_duplicates((str(p), s.specs) for p, s in ordered)
        self.specs = specs
        self.errors = [e for _, s in ordered for e in s.errors] + duplicates
        self._matcher = Matcher(specs.values(), rarity=self.rarity)
        self.version += 1
        # A compiled matcher is hundreds of thousands of long-lived objects (ASTs, closures)
        # with no reference cycles. Left to the cyclic collector, every full collection walks
        # them all: with 100,000 watchlists that halved matching throughput in
        # benchmarks/matching.py (which now freezes as this does). Freezing moves what exists
        # now out of its reach; replaced matchers are still freed by reference counting. Only
        # for big sets: freezing is process-wide, and a few hundred watchlists don't need it.
        if len(self._matcher) >= FREEZE_AT:
            gc.freeze()
