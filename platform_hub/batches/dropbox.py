"""The SFTP drop box (asyncssh): each unit signs in with its registered SSH key and sees its own
folder only (``batches/files.py`` has the layout).

A batch file is uploaded as ``inbox/{interface}/{name}.csv.part`` and renamed to ``{name}.csv`` when
complete (a cut connection leaves a ``.part`` that nothing reads); its head is ``{name}.head``,
uploaded first, the query of ``POST /batches`` (``purpose_code=ZEI-001&department=…&KazeiNendo=2026``).
The file then goes through the batch path of an HTTP CSV upload, under the unit's identity, its
MSGID the file's name: sent again (or found again after a restart) it is resumed or answered again,
never taken twice, and a different file under a used name is E4002. The result is written to
``results/{name}.result.csv``, and the inbox files go.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import asyncssh
import structlog
from lxml import etree

from platform_hub.auth.service import Principal, send_scope, unit_scopes
from platform_hub.batches import files, reports, repository, service
from platform_hub.batches.reader import csv_head
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import FileEncoding, Unit
from platform_hub.protocol.errors import (
    Forbidden,
    HubError,
    MalformedMessage,
    ServiceUnavailable,
    UnknownTarget,
)
from platform_hub.protocol.specs import Pattern

log = structlog.get_logger()
_HEAD_BYTES = 16 * 1024


class DropBox:
    """The drop box of one hub process: the units' keys from the configuration, the uploads' processing."""

    def __init__(self, state: LinkageRuntime) -> None:
        self.state = state
        self._working: dict[Path, asyncio.Task[None]] = {}

    @property
    def files_dir(self) -> Path:
        return self.state.settings.files_dir

    async def unit(self, code: str) -> Unit | None:
        unit = (await self.state.configuration.get()).unit(code)
        return unit if unit is not None and unit.enabled else None

    def sends(self, unit: Unit) -> list[str]:
        """The batch interfaces the unit may send: one inbox folder each."""
        return [
            i
            for i in unit.interface_ids("provides")
            if (c := self.state.catalog.get(i)) is not None and c.spec.pattern == Pattern.BATCH
        ]

    def upload_complete(self, unit_code: str, path: Path) -> None:
        """Process a completed upload once, in the background (the client's rename answers at once)."""
        if path in self._working:
            return
        task = asyncio.create_task(self._process(unit_code, path), name=f"drop box {path.name}")
        self._working[path] = task
        task.add_done_callback(lambda _: self._working.pop(path, None))

    def resume(self) -> None:
        """Every completed upload a stopped hub left unprocessed (its result not yet written)."""
        for path in sorted(self.files_dir.glob("*/inbox/*/*.csv")):
            self.upload_complete(path.parents[2].name, path)

    async def close(self) -> None:
        for task in list(self._working.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _process(self, unit_code: str, path: Path) -> None:
        name, interface_id = path.name.removesuffix(".csv"), path.parent.name
        encoding = await service.declared_encoding(self.state, unit_code, interface_id, "provides")
        structlog.contextvars.bind_contextvars(unit=unit_code, file=f"{interface_id}/{path.name}")
        try:
            report = await self._receive(unit_code, interface_id, name, path, encoding)
        except ServiceUnavailable as busy:  # another hub process has it under way: its result stands
            log.info("drop box file under way elsewhere", error=busy.message)
            return
        except HubError as error:
            report = None
            refused = error
        except OSError as error:  # the file vanished (processed by another hub process) or unreadable
            log.warning("drop box file not processed", error=str(error))
            return
        result = files.results(self.files_dir, unit_code) / f"{name}.result.csv"
        if report is None:
            await asyncio.to_thread(
                files.write_atomically, result, [reports.refusal_report(refused, encoding)]
            )
        else:
            pieces = [piece async for piece in report]
            await asyncio.to_thread(files.write_atomically, result, pieces)
        for done in (path, path.with_name(f"{name}.head")):
            done.unlink(missing_ok=True)
        log.info("drop box file processed", result=result.name)

    async def _receive(
        self, unit_code: str, interface_id: str, name: str, path: Path, encoding: FileEncoding
    ) -> Any:
        unit = await self.unit(unit_code)
        compiled = self.state.catalog.get(interface_id)
        if unit is None:
            raise Forbidden(f"unit {unit_code} is not registered or is disabled")
        if compiled is None or compiled.spec.pattern != Pattern.BATCH:
            raise UnknownTarget(f"{interface_id} is not a batch interface")
        scopes = unit_scopes(unit, self.state.catalog)
        if send_scope(unit_code, interface_id) not in scopes:
            raise Forbidden(f"unit {unit_code} may not send {interface_id}")
        principal = Principal(
            client_id=f"sftp:{unit_code}", role="unit", unit_code=unit_code, scopes=frozenset(scopes)
        )
        fields = {**self._head(path.with_name(f"{name}.head")), "msgid": name}
        head = csv_head(compiled.spec, unit_code, fields)
        with path.open("rb") as source:
            answer = await service.receive_csv(self.state, principal, source, head)
        reception_number = etree.fromstring(answer).findtext(".//{*}ReceptionNumber") or ""
        async with unit_of_work(self.state.sessions) as session:
            found = await repository.by_reception_number(session, reception_number)
        assert found is not None
        message, batch = found
        return reports.report(self.state, message, encoding, batch=batch)

    @staticmethod
    def _head(path: Path) -> dict[str, str]:
        """The head's parameters, as the query of ``POST /batches`` (on one line or several)."""
        if not path.is_file():
            return {}
        text = path.read_bytes()[:_HEAD_BYTES].decode("utf-8-sig", errors="replace")
        try:
            return dict(parse_qsl("&".join(text.split()), strict_parsing=False))
        except ValueError as exc:
            raise MalformedMessage(f"{path.name} is not a head (key=value&…): {exc}") from None


class _Session(asyncssh.SSHServer):
    """One SSH connection: the unit named by the user name, signed in by one of its keys only."""

    def __init__(self, box: DropBox) -> None:
        self._box = box
        self._conn: asyncssh.SSHServerConnection | None = None
        self._unit: Unit | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    async def begin_auth(self, username: str) -> bool:
        unit = await self._box.unit(username) if files.NAME.match(username) else None
        keys = unit.ssh_keys if unit is not None else None
        self._unit = unit
        assert self._conn is not None
        # Every user name is asked for a key, so a key's refusal says nothing of which units exist.
        self._conn.set_authorized_keys(asyncssh.import_authorized_keys(keys or ""))
        return True

    def auth_completed(self) -> None:
        assert self._unit is not None  # no key without a unit
        files.make_folder(self._box.files_dir, self._unit.code, self._box.sends(self._unit))


class _Folder(asyncssh.SFTPServer):
    """A unit's folder as its whole file system: no path leads out of it (``..`` past its top, a
    symbolic link), writes only to its inboxes, nothing made but files."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], box: DropBox) -> None:
        self._box = box
        self._unit = str(chan.get_extra_info("username"))
        self._root = files.unit_folder(box.files_dir, self._unit)
        super().__init__(chan, chroot=str(self._root).encode())

    def map_path(self, path: bytes) -> bytes:
        depth = 0
        for part in path.split(b"/"):
            if part == b"..":
                depth -= 1
                if depth < 0:
                    raise asyncssh.SFTPPermissionDenied("no path leads out of your folder")
            elif part not in (b"", b"."):
                depth += 1
        local = super().map_path(path)
        root, real = os.path.realpath(self._root), os.path.realpath(os.fsdecode(local))
        if real != root and not real.startswith(root + os.sep):
            raise asyncssh.SFTPPermissionDenied("no path leads out of your folder")
        return local

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        """A folder's entries; its ``..`` is described as itself, at the top as anywhere, since what
        lies above the unit's folder is nothing the unit may see."""
        local = os.fsdecode(self.map_path(path))
        here = asyncssh.SFTPAttrs.from_local(os.stat(local))
        for name in (b".", b".."):
            yield asyncssh.SFTPName(name, attrs=here)
        with os.scandir(local) as entries:
            for entry in entries:
                attrs = asyncssh.SFTPAttrs.from_local(entry.stat(follow_symlinks=False))
                yield asyncssh.SFTPName(os.fsencode(entry.name), attrs=attrs)

    def _inbox_name(self, path: bytes, *suffixes: str) -> tuple[str, str] | None:
        """(interface, name) of a path in an inbox the unit sends to, with one of these suffixes."""
        parts = [p for p in posixpath.normpath(b"/" + path).decode(errors="replace").split("/") if p]
        if len(parts) != 3 or parts[0] != "inbox" or not any(parts[2].endswith(s) for s in suffixes):
            return None
        stem = next(parts[2].removesuffix(s) for s in suffixes if parts[2].endswith(s))
        return (parts[1], stem) if files.NAME.match(stem) and files.NAME.match(parts[1]) else None

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        writes = pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC | asyncssh.FXF_APPEND)
        target = self._inbox_name(path, ".csv.part", ".head") if writes else None
        if target is not None and not os.path.isdir(self.map_path(b"/inbox/" + target[0].encode())):
            # The hub makes an inbox for each batch the unit sends (at sign-in), and the unit none.
            raise asyncssh.SFTPPermissionDenied(f"unit {self._unit} sends no batch {target[0]}")
        if writes and target is None:
            raise asyncssh.SFTPPermissionDenied(
                "upload to inbox/{interface}/{name}.csv.part (then rename it to .csv) or {name}.head"
            )
        return super().open(path, pflags, attrs)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._complete(oldpath, newpath, posix=False)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._complete(oldpath, newpath, posix=True)

    def _complete(self, oldpath: bytes, newpath: bytes, *, posix: bool) -> None:
        old, new = self._inbox_name(oldpath, ".csv.part"), self._inbox_name(newpath, ".csv")
        if old is None or old != new:
            raise asyncssh.SFTPPermissionDenied("only inbox/{interface}/{name}.csv.part → {name}.csv")
        if posix:
            super().posix_rename(oldpath, newpath)
        else:
            super().rename(oldpath, newpath)
        self._box.upload_complete(self._unit, Path(os.fsdecode(self.map_path(newpath))))

    def remove(self, path: bytes) -> None:
        parts = [p for p in posixpath.normpath(b"/" + path).split(b"/") if p]
        if not parts or (parts[0] not in (b"outbox", b"results") and not path.endswith(b".part")):
            raise asyncssh.SFTPPermissionDenied("only files of outbox/ and results/ (or a .part) go")
        super().remove(path)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        raise asyncssh.SFTPPermissionDenied("the folders are the hub's")

    def rmdir(self, path: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("the folders are the hub's")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("no links in the drop box")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("no links in the drop box")

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        pass  # a client setting times or modes after a put changes nothing of ours


def host_key(path: Path, *, production: bool) -> asyncssh.SSHKey:
    """The drop box's host key: in production it must exist; elsewhere one is made on first start."""
    if not path.exists():
        if production:
            raise FileNotFoundError(f"PLATFORM_HUB_SFTP_HOST_KEY_FILE {path} does not exist")
        key = asyncssh.generate_private_key("ssh-ed25519")
        path.parent.mkdir(parents=True, exist_ok=True)
        key.write_private_key(str(path))
        path.chmod(0o600)
        return key
    return asyncssh.read_private_key(str(path))


async def serve(state: LinkageRuntime) -> tuple[asyncssh.SSHAcceptor, DropBox]:
    """The drop box on ``sftp_host:sftp_port`` (each hub process listens, the kernel spreads the
    connections: ``reuse_port``), and the uploads a stopped hub left, processed now."""
    settings = state.settings
    box = DropBox(state)

    acceptor = await asyncssh.listen(
        settings.sftp_host,
        settings.sftp_port,
        server_factory=lambda: _Session(box),
        server_host_keys=[
            host_key(settings.sftp_host_key_file, production=settings.environment == "production")
        ],
        sftp_factory=lambda chan: _Folder(chan, box),
        allow_scp=False,
        reuse_port=True,
    )
    box.resume()
    log.info("sftp drop box listening", host=settings.sftp_host, port=settings.sftp_port)
    return acceptor, box
