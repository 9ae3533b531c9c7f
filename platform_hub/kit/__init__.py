"""Plumbing every domain shares: settings, the database, the clock, keys, rate limits, logging and
metrics. It knows no domain."""
