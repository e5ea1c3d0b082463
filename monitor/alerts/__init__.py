"""Alerting: hits become deliveries in an outbox table, and each delivery is sent once.

One module per idea, imported directly (this package re-exports nothing). Where a
watchlist's alerts go (destinations, digests, throttle) is :mod:`monitor.destinations`, below
this package, so that the settings and the watchlist schema read it without the outbox.

- :mod:`~monitor.alerts.record`: hits and the deliveries they owe, in the matching transaction;
- :mod:`~monitor.alerts.compose`: the message a delivery carries, from the rows;
- :mod:`~monitor.alerts.send`: claim, send through a channel, record the outcome;
- :mod:`~monitor.alerts.sweep`: what is due, lost claims, digests whose time has come, retries;
- :mod:`~monitor.alerts.message`: the channel contract; :mod:`~monitor.alerts.channels`: one
  module per channel; :mod:`~monitor.alerts.formatting`: escaping, per output format.

See docs/alerts.md.
"""
