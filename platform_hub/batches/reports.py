"""A batch's result report (結果ファイル), in the sending unit's encoding: over HTTP, and as the
drop box's ``results/{name}.result.csv``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from platform_hub.batches import files, service
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import Batch, FileEncoding, Message
from platform_hub.protocol.errors import HubError


async def report(
    state: LinkageRuntime, message: Message, encoding: FileEncoding, *, batch: Batch | None = None
) -> AsyncIterator[bytes]:
    """Every refused record (連番, レコード番号, 送付先, 結果コード, 結果メッセージ): at intake (送付先
    empty) or for one subscriber; with ``batch``, its counts come first (受付番号, 受付件数, 正常件数,
    エラー件数), as a result file has them."""
    start = files.start_of(encoding)
    if batch is not None:
        counts = (message.reception_number, batch.records_received, batch.records_accepted)
        start += _line(files.RESULT_COUNTS, encoding) + _line((*counts, batch.records_refused), encoding)
    yield start + _line(files.RESULT_COLUMNS, encoding)
    after = 0
    while True:
        async with unit_of_work(state.sessions) as reading:
            page = await service.refused_records(reading, message.id, after=after)
        if not page:
            return
        yield b"".join(
            _line((row.seq, row.record_no or "", row.subscriber_unit or "", row.code, row.message), encoding)
            for row in page
        )
        after = page[-1].id


def refusal_report(error: HubError, encoding: FileEncoding) -> bytes:
    """The result file of a file refused whole (its head, its name, its header row): no record kept."""
    counts = (error.reception_number or "", 0, 0, 0)
    why = "; ".join([error.message, *error.details])
    return (
        files.start_of(encoding)
        + _line(files.RESULT_COUNTS, encoding)
        + _line(counts, encoding)
        + _line(files.RESULT_COLUMNS, encoding)
        + _line(("", "", "", error.code, why), encoding)
    )


def _line(values: tuple[object, ...], encoding: FileEncoding) -> bytes:
    return files.encoded_leniently(files.csv_line(values), encoding)
