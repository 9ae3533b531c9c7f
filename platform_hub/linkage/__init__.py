"""Linkage: the envelope, the interface catalog, routing and delivery of messages."""
