"""A complete adapter for a new system, written with the SDK in a few lines, against a real hub."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from platform_hub_sdk import Credentials, LinkageError, Payload, Received, Unit

from platform_hub.kit.settings import Settings
from tests.helpers import (
    ADMIN_ID,
    ADMIN_SECRET,
    YAMADA,
    HubClient,
    free_port,
    header_field,
    ido_notification,
    serve_in_thread,
    served_hub,
    wait_until,
    zei_query,
)


# --- the adapter: everything 個人住民税 needs to join the hub -------------------------------------
def tax_adapter(
    hub_url: str, port: int, database: Path, rest: Sequence[str] = ()
) -> tuple[Unit, list[Received]]:
    unit = Unit(
        "002",
        "個人住民税",
        "市長",
        purposes=["ZEI-001"],
        hub_url=hub_url,
        base_url=f"http://127.0.0.1:{port}",
        database=database,
        integrator=Credentials(ADMIN_ID, ADMIN_SECRET),
        rest=rest,  # what the hub sends it by the Digital Agency's REST binding
    )
    moves: list[Received] = []

    @unit.on_notification("IF_JUK_0001")
    async def resident_moved(message: Received) -> None:
        moves.append(message)

    @unit.on_query("IF_ZEI_0001")
    async def income(message: Received) -> Payload:
        answer: Payload = {
            "ShokaiKekkaCode": "0",
            "AtenaNo": message.payload["AtenaNo"],
            "KazeiNendo": message.payload["KazeiNendo"],
            "KazeiKubunCode": "1",
            "SoshotokuKingaku": 4_200_000,
            "ShotokuwariGaku": 210_000,
            "FuyoNinzu": 2,
        }
        if message.version >= 2:  # version 2 (over REST) adds 合計所得金額
            answer["GokeiShotokuKingaku"] = 4_500_000
        return answer

    return unit, moves


# --- end of the adapter ---------------------------------------------------------------------------


def test_sdk_adapter_registers_receives_and_answers(hub: HubClient, tmp_path: Path) -> None:
    port = free_port()
    unit, moves = tax_adapter(str(hub.http.base_url), port, tmp_path / "zeimu.db")
    with serve_in_thread(unit.app(), port=port):
        registered = hub.http.get("/adapters/002", headers=hub.admin()).json()
        assert registered["provides"] == ["IF_ZEI_0001"] and registered["subscribes"] == ["IF_JUK_0001"]
        wait_until(lambda: hub.http.get("/adapters/002", headers=hub.admin()).json()["last_heartbeat_at"])
        juki = hub.unit_headers(hub.register("001"))
        jidou = hub.unit_headers(hub.register("011"))
        hub.enroll(YAMADA)

        assert hub.send(ido_notification(msgid="move-1"), juki).status_code == 200
        wait_until(lambda: len(moves) == 1)
        assert moves[0].msgid == "move-1" and moves[0].payload["AtenaNo"] == YAMADA["002"]  # 002's own number
        assert moves[0].payload["IdoJiyuCode"] == "03"

        answer = hub.send(zei_query(destination="002"), jidou)
        assert answer.status_code == 200, answer.text
        assert header_field(answer.content, "SourceSystemID") == "002"
        assert f"<lk:AtenaNo>{YAMADA['011']}</lk:AtenaNo>".encode() in answer.content  # back in 011's
        assert b"<lk:SoshotokuKingaku>4200000</lk:SoshotokuKingaku>" in answer.content

    # Restarted, the unit reuses the credentials kept in its own database (no second registration).
    again, _ = tax_adapter(str(hub.http.base_url), port, tmp_path / "zeimu.db")
    with serve_in_thread(again.app(), port=port):
        assert again.started


async def test_a_unit_that_lost_its_credentials_is_told_so(hub: HubClient, tmp_path: Path) -> None:
    """The hub shows a unit's secret once: a unit registered before, without its database, cannot
    register again and says what to do (E1004) rather than failing obscurely."""
    first, _ = tax_adapter(str(hub.http.base_url), free_port(), tmp_path / "first.db")
    async with first.running():
        assert first.started
    lost, _ = tax_adapter(str(hub.http.base_url), free_port(), tmp_path / "lost.db")
    with pytest.raises(LinkageError) as refused:
        await lost.start()
    await lost.stop()
    assert refused.value.code == "E1004" and "credentials=" in refused.value.message
    assert "POST /adapters/002/secret" in refused.value.message  # where an integrator gets it new ones


async def test_a_unit_over_its_rate_limit_waits_and_sends_again(settings: Settings, tmp_path: Path) -> None:
    """A unit past its rate limit is told when to come back (429, E2003, Retry-After): the SDK waits
    that long and sends the same MSGID again, rather than fail the clerk's query."""
    limited = settings.model_copy(update={"unit_rate_limit": "5/second"})
    with served_hub(limited) as (url, hub):
        tax, _ = tax_adapter(url, free_port(), tmp_path / "zeimu.db")
        allowance = Unit(
            "011",
            "児童手当",
            "市長",
            purposes=["JDT-001"],
            hub_url=url,
            base_url=f"http://127.0.0.1:{free_port()}",
            database=tmp_path / "jidou.db",
            integrator=Credentials(ADMIN_ID, ADMIN_SECRET),
        )
        with serve_in_thread(tax.app(), port=int(tax.base_url.rsplit(":", 1)[1])):
            async with allowance.running():
                hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
                replies = [
                    await allowance.query("IF_ZEI_0001", {"AtenaNo": YAMADA["011"], "KazeiNendo": "2026"})
                    for _ in range(12)  # over two seconds' worth
                ]
    assert [reply.payload["SoshotokuKingaku"] for reply in replies] == ["4200000"] * 12
