"""Shared plumbing used by every domain package."""
