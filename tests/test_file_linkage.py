"""一括 as files: each unit's encoding (UTF-8, with a BOM or not, CP932), records refused one by one
for bytes or characters they may not hold, files out for subscribers that take them, and the SFTP
drop box — driven with asyncssh's own client against the served hub."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import pytest
from lxml import etree

from platform_hub.batches.reader import CsvBatch
from platform_hub.kit.settings import Settings
from platform_hub.protocol.numbers import atena_number
from tests.helpers import (
    CATALOG,
    NS,
    HubClient,
    count_rows,
    free_port,
    rows,
    seed_taxpayers,
    serve_in_thread,
    served_hub,
    taxpayer_atena,
    wait_until,
)
from tests.test_resident_set import PERSON, my_number
from tests.units import TestUnit

T = TypeVar("T")
JUK = CATALOG.interfaces["IF_JUK_0101"].spec
ZEI = CATALOG.interfaces["IF_ZEI_0101"].spec
# A head on one line as a query, or a parameter a line: the drop box reads both.
JUK_HEAD = "purpose_code=JUK-001&department=JUKI-1&user=u0001&ShoriKubun=1&KijunDate=2026-11-01"
JUK_HEAD += "&SakuseiDate=2026-11-02"
ZEI_HEAD = "purpose_code=ZEI-001\ndepartment=ZEIMU-1\nuser=u0001\nKazeiNendo=2026\nShoriKubun=2\n"
ZEI_HEAD += "SakuseiDate=2026-06-01"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "files_dir": tmp_path / "files",
            "sftp_port": free_port(),
            "sftp_host_key_file": tmp_path / "sftp-host-key",
            "batch_chunk_records": 2,
        }
    )


@pytest.fixture
def served(settings: Settings) -> Iterator[HubClient]:
    with served_hub(settings) as (_, client):
        yield client


def run(work: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(work(), 60)

    return asyncio.run(bounded())


class Sftp:
    """asyncssh's SFTP client as one unit, the hub's host key pinned."""

    def __init__(self, settings: Settings, unit: str, key: asyncssh.SSHKey) -> None:
        self.settings, self.unit, self.key = settings, unit, key

    async def __aenter__(self) -> asyncssh.SFTPClient:
        host_key = asyncssh.read_private_key(str(self.settings.sftp_host_key_file))
        known = asyncssh.import_known_hosts(
            f"[127.0.0.1]:{self.settings.sftp_port} {host_key.export_public_key().decode()}"
        )
        self._conn = await asyncssh.connect(
            "127.0.0.1",
            self.settings.sftp_port,
            username=self.unit,
            client_keys=[self.key],
            known_hosts=known,
            agent_path=None,
        )
        self._sftp = await self._conn.start_sftp_client()
        return self._sftp

    async def __aexit__(self, *_: object) -> None:
        self._sftp.exit()
        self._conn.close()
        await self._conn.wait_closed()


def new_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def declare(hub: HubClient, unit: str, interface_id: str, encoding: str, delivery: str = "message") -> None:
    response = hub.http.put(
        f"/adapters/{unit}/files/{interface_id}",
        json={"encoding": encoding, "delivery": delivery},
        headers=hub.admin(),
    )
    assert response.status_code == 200, response.text


def give_key(hub: HubClient, unit: str, key: asyncssh.SSHKey) -> None:
    public = key.export_public_key().decode()
    response = hub.http.put(f"/adapters/{unit}/ssh-keys", json={"keys": public}, headers=hub.admin())
    assert response.status_code == 200 and response.json()["sftp"] is True, response.text


async def drop(sftp: asyncssh.SFTPClient, interface_id: str, name: str, head: str, body: bytes) -> None:
    """A batch file as the drop box wants it: its head, its body as .part, renamed when complete."""
    folder = f"inbox/{interface_id}"
    async with sftp.open(f"{folder}/{name}.head", "wb") as out:
        await out.write(head.encode())
    async with sftp.open(f"{folder}/{name}.csv.part", "wb") as out:
        for at in range(0, len(body), 4096):  # in pieces, as a large file goes
            await out.write(body[at : at + 4096])
    await sftp.rename(f"{folder}/{name}.csv.part", f"{folder}/{name}.csv")


async def fetched(sftp: asyncssh.SFTPClient, path: str) -> bytes:
    deadline = asyncio.get_running_loop().time() + 30
    while not await sftp.exists(path):
        assert asyncio.get_running_loop().time() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.1)
    async with sftp.open(path, "rb") as found:
        data: bytes = await found.read()
        return data


def table(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding))))


def juk_csv(records: list[dict[str, str]]) -> str:
    items = [item.romaji for item in JUK.record.items or ()]
    names = [item.name for item in JUK.record.items or ()]  # a header of 項目名, as older systems write
    lines = [",".join(names)]
    for n, record in enumerate(records, 1):
        fields = {"RecordNo": str(n), **PERSON, **record}
        lines.append(",".join(fields.get(item, "") for item in items))
    return "\r\n".join(lines) + "\r\n"


# --- the drop box --------------------------------------------------------------------------------


def test_a_cp932_file_dropped_by_sftp_reaches_each_subscriber_record_by_record(
    served: HubClient, settings: Settings, database_url: str
) -> None:
    hub, juki_key, zeimu_key = served, new_key(), new_key()
    jidou = TestUnit()
    with serve_in_thread(jidou.app()) as url:
        hub.register("011", url, subscribes=["IF_JUK_0101"])  # by message
        zeimu = hub.unit_headers(hub.register("002", subscribes=["IF_JUK_0101"]))
        declare(hub, "002", "IF_JUK_0101", "utf-8", "file")  # by file, UTF-8 without a BOM
        give_key(hub, "002", zeimu_key)
        hub.register("001", provides=["IF_JUK_0101"])
        declare(hub, "001", "IF_JUK_0101", "cp932")
        give_key(hub, "001", juki_key)
        records = [
            {
                "IdoJiyuCode": "03",
                "AtenaNo": atena_number(1001),
                "Shimei": "髙橋　一郎",
                "KojinBango": my_number(1),
            },
            # ① and the NEC 外字 area: CP932 has them; the vendor 外字 decodes to the PUA
            {
                "IdoJiyuCode": "03",
                "AtenaNo": atena_number(1002),
                "Shimei": "外字\ue000太郎",
                "KojinBango": my_number(2),
            },
            {
                "IdoJiyuCode": "03",
                "AtenaNo": atena_number(1003),
                "Shimei": "三郎",
                "KojinBango": my_number(3),
            },
        ]
        body = juk_csv(records).encode("cp932")
        assert "外字\ue000太郎".encode("cp932") in body  # F040: a user-defined character of CP932
        body = body.replace("三郎".encode("cp932"), b"\x82\xff\x98\x59")  # not a CP932 sequence

        async def upload() -> bytes:
            async with Sftp(settings, "001", juki_key) as sftp:
                assert sorted(await sftp.listdir("/")) == [".", "..", "inbox", "outbox", "results"]
                await drop(sftp, "IF_JUK_0101", "jumin-2026-11", JUK_HEAD, body)
                return await fetched(sftp, "results/jumin-2026-11.result.csv")

        result = table(run(upload), "cp932")
        assert result[0] == ["受付番号", "受付件数", "正常件数", "エラー件数"]
        reception, *counts = result[1]
        assert counts == ["3", "1", "2"]
        assert result[2] == ["連番", "レコード番号", "送付先", "結果コード", "結果メッセージ"]
        refused = {row[0]: row for row in result[3:]}
        assert refused.keys() == {"2", "3"}
        assert (
            refused["2"][3] == "E1002"
            and "Shimei (00111107 氏名): U+E000 is a private-use" in refused["2"][4]
        )
        assert refused["3"][3] == "E1002" and "Shimei: bytes not valid cp932: 0x82" in refused["3"][4]
        wait_until(lambda: count_rows(database_url, "transfer_records") == 2, timeout=30)
        wait_until(
            lambda: {r.status for r in rows(database_url, "SELECT status FROM deliveries")} == {"delivered"}
        )
    # 011 by message, 002 by file; one record each, each recorded as delivered, as any delivery is
    assert [
        r.findtext("lk:Shimei", namespaces=NS) for m in jidou.received for r in m.iterfind(".//lk:Jumin", NS)
    ] == ["髙橋　一郎"]
    outcomes = rows(
        database_url, "SELECT requesting_unit, outcome FROM transfer_records ORDER BY requesting_unit"
    )
    assert [(r.requesting_unit, r.outcome) for r in outcomes] == [("002", "delivered"), ("011", "delivered")]
    name = f"IF_JUK_0101_{reception}_full.csv"
    listed = hub.http.get("/batches/outbox", headers=zeimu).json()
    assert [(f["interface_id"], f["name"]) for f in listed] == [("IF_JUK_0101", name)]
    over_http = hub.http.get(f"/batches/outbox/IF_JUK_0101/{name}", headers=zeimu)
    assert over_http.status_code == 200 and not over_http.content.startswith(b"\xef\xbb\xbf")

    async def take() -> bytes:
        async with Sftp(settings, "002", zeimu_key) as sftp:
            return await fetched(sftp, f"outbox/IF_JUK_0101/{name}")

    assert run(take) == over_http.content
    lines = table(over_http.content, "utf-8")
    assert lines[0] == [item.romaji for item in JUK.record.items or ()]
    assert [dict(zip(lines[0], line, strict=True))["Shimei"] for line in lines[1:]] == ["髙橋　一郎"]
    assert (
        "KojinBango" not in dict(zip(lines[0], lines[1], strict=True))
        or not lines[1][lines[0].index("KojinBango")]
    )
    assert (
        hub.http.get(
            f"/batches/outbox/IF_JUK_0101/{name}", headers=hub.unit_headers(hub.register("051"))
        ).status_code
        == 404
    )


def test_the_drop_box_takes_only_a_units_own_key_and_keeps_it_in_its_folder(
    served: HubClient, settings: Settings
) -> None:
    hub, juki_key, zeimu_key = served, new_key(), new_key()
    hub.register("001", provides=["IF_JUK_0101"])
    give_key(hub, "001", juki_key)
    hub.register("002")
    give_key(hub, "002", zeimu_key)

    async def refused_keys() -> None:
        for unit, key in (("001", zeimu_key), ("002", juki_key), ("003", juki_key), ("../001", juki_key)):
            with pytest.raises(asyncssh.PermissionDenied):
                async with Sftp(settings, unit, key):
                    pass

    run(refused_keys)
    secret = settings.files_dir / "002" / "outbox" / "IF_JUK_0101" / "secret.csv"
    secret.parent.mkdir(parents=True)
    secret.write_text("002's own\r\n")

    async def confined() -> None:
        async with Sftp(settings, "001", juki_key) as sftp:  # its folder is made at its first sign-in
            os.symlink(settings.files_dir / "002", settings.files_dir / "001" / "outbox" / "zeimu")  # planted
            assert "002" not in await sftp.listdir("/")
            for path in ("..", "../002", "/../002/outbox", "inbox/../../002/outbox/IF_JUK_0101/secret.csv"):
                with pytest.raises(asyncssh.SFTPPermissionDenied):
                    await sftp.listdir(path)
            with pytest.raises(asyncssh.SFTPPermissionDenied):  # a symbolic link that leads out
                await sftp.listdir("outbox/zeimu")
            with pytest.raises(asyncssh.SFTPPermissionDenied):
                await sftp.open("outbox/zeimu/outbox/IF_JUK_0101/secret.csv", "rb")
            with pytest.raises(asyncssh.SFTPNoSuchFile):  # an absolute path is the unit's own folder's
                await sftp.open(str(secret), "rb")
            with pytest.raises(asyncssh.SFTPPermissionDenied):
                await sftp.symlink("/", "inbox/IF_JUK_0101/up")
            with pytest.raises(asyncssh.SFTPPermissionDenied):  # nothing written but the inboxes
                await sftp.open("outbox/mine.csv", "wb")
            with pytest.raises(asyncssh.SFTPPermissionDenied):  # nor an inbox of a batch it does not send
                await sftp.open("inbox/IF_ZEI_0101/x.csv.part", "wb")
            with pytest.raises(asyncssh.SFTPPermissionDenied):  # a .csv appears only by its rename
                await sftp.open("inbox/IF_JUK_0101/x.csv", "wb")
            with pytest.raises(asyncssh.SFTPPermissionDenied):
                await sftp.mkdir("inbox/mine")

    run(confined)


def test_a_dropped_file_is_taken_once_across_a_restart(settings: Settings, database_url: str) -> None:
    seed_taxpayers(database_url, 3)
    zeimu_key, jidou = new_key(), TestUnit()
    text = (
        ",".join(item.romaji for item in ZEI.record.items or ())
        + "\r\n"
        + "".join(f"{n},{taxpayer_atena('002', n)},1,3000000,150000,1\r\n" for n in range(1, 4))
    )
    inbox = settings.files_dir / "002" / "inbox" / "IF_ZEI_0101"
    with serve_in_thread(jidou.app()) as url:
        with served_hub(settings) as (_, hub):
            hub.register("011", url)
            hub.register("002")
            give_key(hub, "002", zeimu_key)
        # what a hub stopped right after the rename leaves: the completed file, not yet processed
        inbox.mkdir(parents=True)
        (inbox / "income-06.head").write_text(ZEI_HEAD)
        (inbox / "income-06.csv").write_bytes(text.encode("utf-8-sig"))
        with served_hub(settings) as (_, hub):

            async def again() -> tuple[bytes, bytes, bytes]:
                async with Sftp(settings, "002", zeimu_key) as sftp:
                    first = await fetched(sftp, "results/income-06.result.csv")
                    assert not await sftp.exists("inbox/IF_ZEI_0101/income-06.csv")
                    await sftp.remove("results/income-06.result.csv")
                    await drop(sftp, "IF_ZEI_0101", "income-06", ZEI_HEAD, text.encode())  # the same again
                    second = await fetched(sftp, "results/income-06.result.csv")
                    await sftp.remove("results/income-06.result.csv")
                    changed = text.replace(",1,3000000", ",2,3000000", 1).encode()
                    await drop(sftp, "IF_ZEI_0101", "income-06", ZEI_HEAD, changed)  # a used name
                    return first, second, await fetched(sftp, "results/income-06.result.csv")

            first, second, conflict = run(again)
            wait_until(lambda: count_rows(database_url, "transfer_records") == 3)
    assert first == second and table(first, "utf-8-sig")[1][1:] == ["3", "3", "0"]
    assert table(conflict, "utf-8-sig")[3][3] == "E4002"
    assert count_rows(database_url, "batches") == 1 and count_rows(database_url, "transfer_records") == 3
    assert len(jidou.received) == 2  # chunks of 2 and 1 records, sent once


# --- reading ------------------------------------------------------------------------------------


class _Endless(io.RawIOBase):
    """A CSV file of ``rows`` records made as it is read, counting what was read."""

    def __init__(self, rows: int) -> None:
        self.read_bytes, self._rows, self._pending = (
            0,
            iter(range(rows)),
            b"RecordNo,AtenaNo,KazeiKubunCode\r\n",
        )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._pending) < len(buffer):
            n = next(self._rows, None)
            if n is None:
                break
            self._pending += f"{n},{n:015d},1\r\n".encode()
        taken, self._pending = self._pending[: len(buffer)], self._pending[len(buffer) :]
        buffer[: len(taken)] = taken
        self.read_bytes += len(taken)
        return len(taken)


def test_a_csv_file_is_decoded_as_it_is_read() -> None:
    source = _Endless(3_000_000)  # about 75 MB
    records = CsvBatch(io.BufferedReader(source), ZEI, "utf-8").records()
    first = next(records)
    assert not isinstance(first, str) and first.findtext("lk:RecordNo", namespaces=NS) == "0"
    assert source.read_bytes < 1024 * 1024
    for _ in range(100_000):
        next(records)
    assert source.read_bytes < 4 * 1024 * 1024


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_each_encoding_reads_its_own_and_names_what_it_cannot(encoding: str) -> None:
    header = "レコード番号,宛名番号,課税区分\r\n"
    good = header + "1,ア,1\r\n"
    for data in {good.encode(encoding), good.encode(encoding if encoding == "cp932" else "utf-8-sig")}:
        (record,) = CsvBatch(io.BytesIO(data), ZEI, encoding).records()
        assert not isinstance(record, str) and record.findtext("lk:AtenaNo", namespaces=NS) == "ア"
    bad = header.encode(encoding) + b"1,a\x82,1\r\n2,ok,1\r\n3,a\x01,1\r\n"
    found = list(CsvBatch(io.BytesIO(bad), ZEI, encoding).records())
    assert found[0] == f"AtenaNo: bytes not valid {'cp932' if encoding == 'cp932' else 'utf-8'}: 0x82"
    assert etree.QName(found[1]).localname == "Shotoku"  # type: ignore[arg-type]
    assert found[2] == "AtenaNo: U+0001 is a control character"


def test_a_jisx0213_subscriber_gets_each_batch_record_fallen_back(hub: HubClient, database_url: str) -> None:
    """011 takes the batch as messages, 002 as a file; both hold JIS X 0213 only: 髙 arrives as 高."""
    jidou = TestUnit()
    with serve_in_thread(jidou.app()) as url:
        hub.register("011", url, subscribes=["IF_JUK_0101"], characters="jisx0213")
        zeimu = hub.unit_headers(hub.register("002", subscribes=["IF_JUK_0101"], characters="jisx0213"))
        declare(hub, "002", "IF_JUK_0101", "utf-8", "file")
        juki = hub.unit_headers(hub.register("001", provides=["IF_JUK_0101"]))
        body = juk_csv([{"IdoJiyuCode": "03", "AtenaNo": atena_number(1001), "Shimei": "髙橋　一郎"}])
        head = dict(pair.split("=") for pair in JUK_HEAD.split("&")) | {
            "msgid": "jumin-jis",
            "interface": "IF_JUK_0101",
        }
        sent = hub.http.post(
            "/batches",
            content=body.encode("utf-8"),
            params=head,
            headers={**juki, "Content-Type": "text/csv"},
        )
        assert sent.status_code == 200, sent.text
        wait_until(
            lambda: {r.status for r in rows(database_url, "SELECT status FROM deliveries")} == {"delivered"},
            timeout=30,
        )
    names = [
        r.findtext("lk:Shimei", namespaces=NS) for m in jidou.received for r in m.iterfind(".//lk:Jumin", NS)
    ]
    assert names == ["高橋　一郎"]
    (listed,) = hub.http.get("/batches/outbox", headers=zeimu).json()
    lines = table(
        hub.http.get(f"/batches/outbox/IF_JUK_0101/{listed['name']}", headers=zeimu).content, "utf-8"
    )
    assert dict(zip(lines[0], lines[1], strict=True))["Shimei"] == "高橋　一郎"
