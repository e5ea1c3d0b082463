"""Fixtures for the trends tests: the alerting tests' world of rows, and the Slack stand-in."""

from __future__ import annotations

from tests.alerts.conftest import slack, world

__all__ = ["slack", "world"]
