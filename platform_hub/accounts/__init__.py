"""People's accounts for the console (not the OAuth clients of ``auth``), and their sessions."""
