"""The Celery side of monitor: the app and its thin tasks (see workers/app.py).

``celery -A workers worker`` and ``celery -A workers beat`` find :data:`app` here.
"""

from workers.app import app

__all__ = ["app"]
