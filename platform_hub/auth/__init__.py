"""Auth: OAuth2 client credentials, bearer tokens, roles and scopes."""
