"""一括 as files: each unit's folder, the CSV files the hub writes there, in the unit's encoding.

A unit's folder (``{files_dir}/{unit code}/``, what the SFTP drop box shows it as ``/``):

- ``inbox/{interface}/`` — the batches it sends: ``{name}.head`` (the head, as the query of
  ``POST /batches``), then ``{name}.csv.part`` renamed to ``{name}.csv`` when complete;
- ``results/{name}.result.csv`` — the result of each file it sent;
- ``outbox/{interface}/`` — the batches it subscribes to as files, one CSV file each.

Every file the hub writes is written under a temporary name and renamed, so a reader never sees half
of one, and a crash leaves nothing that looks complete.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from platform_hub.models import FileEncoding
from platform_hub.protocol.specs import InterfaceSpec

# What a name in a unit's folder may be: the file's name is the batch's MSGID (X, up to 64).
NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$")
PARTS = ".parts"  # the chunks of a file being written, beside the units' folders
RESULT_COUNTS = ("受付番号", "受付件数", "正常件数", "エラー件数")
RESULT_COLUMNS = ("連番", "レコード番号", "送付先", "結果コード", "結果メッセージ")


def unit_folder(files_dir: Path, unit_code: str) -> Path:
    return files_dir / unit_code


def inbox(files_dir: Path, unit_code: str, interface_id: str) -> Path:
    return unit_folder(files_dir, unit_code) / "inbox" / interface_id


def results(files_dir: Path, unit_code: str) -> Path:
    return unit_folder(files_dir, unit_code) / "results"


def outbox(files_dir: Path, unit_code: str, interface_id: str) -> Path:
    return unit_folder(files_dir, unit_code) / "outbox" / interface_id


def make_folder(files_dir: Path, unit_code: str, interfaces: Iterable[str]) -> Path:
    """A unit's folder with its three parts (and an inbox per batch interface it sends)."""
    root = unit_folder(files_dir, unit_code)
    for part in ("inbox", "results", "outbox"):
        (root / part).mkdir(parents=True, exist_ok=True)
    for interface_id in interfaces:
        inbox(files_dir, unit_code, interface_id).mkdir(parents=True, exist_ok=True)
    return root


def write_atomically(path: Path, pieces: Iterable[bytes]) -> None:
    """Write a file under a temporary name and rename it: it appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as out:
        for piece in pieces:
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


def csv_line(values: Sequence[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def start_of(encoding: FileEncoding) -> bytes:
    """What a file the hub writes starts with: the BOM that ``utf-8-sig`` asks for."""
    return codecs.BOM_UTF8 if encoding is FileEncoding.UTF_8_SIG else b""


def codec(encoding: FileEncoding) -> str:
    return "cp932" if encoding is FileEncoding.CP932 else "utf-8"


def encoded_leniently(text: str, encoding: FileEncoding) -> bytes:
    """Text of the hub's own (a result message) in the unit's encoding: a character CP932 lacks is
    written as its code point (``\\U00020bb7``) rather than lost."""
    return text.encode(codec(encoding), errors="backslashreplace")


# --- the files a subscriber takes --------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxFile:
    """One batch's file for one subscriber."""

    files_dir: Path
    unit_code: str
    interface_id: str
    reception_number: str
    full_set: bool  # 処理区分 1 全件, else 2 差分

    @property
    def name(self) -> str:
        return f"{self.interface_id}_{self.reception_number}_{'full' if self.full_set else 'diff'}.csv"

    @property
    def path(self) -> Path:
        return outbox(self.files_dir, self.unit_code, self.interface_id) / self.name

    def part(self, chunk_no: int) -> Path:
        return self.files_dir / PARTS / self.unit_code / self.reception_number / f"{chunk_no:06d}.csv"

    def write_part(self, chunk_no: int, lines: Iterable[bytes]) -> None:
        """One chunk's records, kept until every chunk is written (written again if sent again)."""
        write_atomically(self.part(chunk_no), lines)

    def assemble(self, spec: InterfaceSpec, chunks: int, encoding: FileEncoding) -> None:
        """The file, from its header row and every chunk's records; then the chunks go."""

        def pieces() -> Iterator[bytes]:
            yield start_of(encoding) + header_row(spec).encode(codec(encoding))
            for chunk_no in range(chunks):
                with self.part(chunk_no).open("rb") as part:
                    while piece := part.read(1024 * 1024):
                        yield piece

        write_atomically(self.path, pieces())
        for chunk_no in range(chunks):
            self.part(chunk_no).unlink(missing_ok=True)
        self.part(0).parent.rmdir()


def header_row(spec: InterfaceSpec) -> str:
    """A subscriber's file names the items by romaji, as the hub's own CSV reader takes them."""
    return csv_line([item.romaji for item in spec.record.items or ()])


def find_outbox_file(files_dir: Path, unit_code: str, interface_id: str, name: str) -> Path | None:
    """A file of the unit's outbox by its name, or None (a name that is no plain file name included)."""
    if not NAME.match(interface_id) or not NAME.match(name):
        return None
    path = outbox(files_dir, unit_code, interface_id) / name
    return path if path.is_file() else None


def outbox_listing(files_dir: Path, unit_code: str) -> list[tuple[str, str, int]]:
    """(interface, name, size) of every file in the unit's outbox."""
    root = unit_folder(files_dir, unit_code) / "outbox"
    if not root.is_dir():
        return []
    return sorted(
        (folder.name, path.name, path.stat().st_size)
        for folder in root.iterdir()
        if folder.is_dir()
        for path in folder.iterdir()
        if path.is_file() and path.suffix == ".csv"
    )
