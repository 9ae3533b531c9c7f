"""Audit: the record of every transfer of specified personal information (特定個人情報)."""
