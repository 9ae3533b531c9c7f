"""The web application: the app factory, error rendering, health and metrics."""
