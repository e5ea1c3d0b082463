"""Celery configuration (filled in by the pipeline; see workers/app.py)."""
