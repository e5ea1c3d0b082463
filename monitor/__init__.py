"""monitor: poll news feeds, match boolean watchlists, alert Slack and email.

The package is a library; ``workers/`` adapts it to Celery and nothing in here imports Celery.
"""

__version__ = "0.1.0"
