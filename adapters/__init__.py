"""Adapters: the SDK a business system uses to join the hub, and the demo city's mock units."""
