"""Trends: a watchlist's volume over time (spikes) and feeds that have stopped publishing.

``spike`` is the pure rule (counts in, a verdict with its reason out); ``spike_alerts`` reads
the stories of each watchlist with a ``spike:`` block and sends one alert when a spike starts;
``silence`` flags feeds that still answer but publish nothing and tells the ops destinations;
``polls`` counts polls per hour by outcome for the overview page.
"""
