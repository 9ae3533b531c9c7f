"""``python -m platform_hub.cli``: the command line, as the ``platform-hub`` script runs it."""

from platform_hub.cli import app

app()
