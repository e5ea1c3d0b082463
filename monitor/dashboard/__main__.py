"""``python -m monitor.dashboard``: the dashboard as a process of its own, the child of
``monitor run`` and the dashboard service of docker-compose.yml.

Host and port come from the settings. A refusal (a bad setting, an exposed address without a
login) is one line on stderr and the error's exit code, as the CLI prints them. (This was
``python -m monitor.cli.run dashboard``, which made runpy warn at every start: importing the
package ``monitor.cli`` imports ``monitor.cli.run`` before runpy runs it as ``__main__``.)
"""

from __future__ import annotations

import sys

from monitor.config import load_settings
from monitor.dashboard import serve
from monitor.errors import MonitorError
from monitor.logs import configure_logging

__all__ = ["main"]


def main() -> None:
    try:
        settings = load_settings()
        configure_logging(level=settings.log_level, fmt=settings.log_format)
        serve(settings)
    except MonitorError as exc:  # one line, as the CLI prints them, never a traceback
        print(f"monitor: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
