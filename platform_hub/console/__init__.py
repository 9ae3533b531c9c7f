"""The console: pages in Japanese for people — auditors, the My Number office, operators — who sign
in as themselves (``accounts``) in a browser that needs nothing from outside the hub."""
