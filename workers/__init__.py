"""The Celery side of monitor: the app and its thin tasks (see workers/app.py)."""
