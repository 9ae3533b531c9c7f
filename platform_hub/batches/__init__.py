"""Batches (一括): files of records received in chunks, checked record by record, and delivered to
subscribers chunk by chunk."""
