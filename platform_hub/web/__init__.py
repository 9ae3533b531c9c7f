"""The web layer: the app factory, its state, error rendering, the request guard, and one router per
domain (``linkage``, ``batches``, ``addressees``, ``audit``, ``auth``, ``units``, ``ordinance``,
``health``). Routers call services; nothing below imports this package."""
