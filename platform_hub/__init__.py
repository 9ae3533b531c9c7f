"""platform-hub: the municipal data-linkage hub (地域情報プラットフォーム style)."""
