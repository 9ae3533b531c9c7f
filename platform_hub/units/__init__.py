"""The registry of business units (業務ユニット): what each provides, subscribes to and serves. Units
are data, never hub code."""
