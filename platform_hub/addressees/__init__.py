"""The unified addressee registry (統一宛名 / 団体内統合宛名): persons, their numbers and links."""
