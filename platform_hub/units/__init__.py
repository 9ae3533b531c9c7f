"""The registry of business units (業務ユニット) and their adapters: data, never hub code."""
