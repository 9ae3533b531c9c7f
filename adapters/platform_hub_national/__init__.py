"""Mock national systems (住基ネット, 情報提供ネットワークシステム, 中間サーバー), each a process of its own
with its own database, so a city can test its 番号法 linkage before it connects to the real ones.
``platform-hub mock-national NAME`` serves one; ``docs/national.md`` documents their wire formats."""
