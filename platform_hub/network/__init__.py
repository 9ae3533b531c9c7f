"""The city's 団体内統合宛名 gateway to the 情報提供ネットワークシステム (service.py)."""
