"""Linkage: queries (照会) and notifications (通知) — routing, idempotency, translation of 宛名番号,
the ordinance's decision, delivery to units and the record of each transfer."""
