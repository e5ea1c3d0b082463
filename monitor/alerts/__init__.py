"""Alerting: the outbox, one module per channel, formatting, digests and throttling."""
