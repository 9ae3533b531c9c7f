"""A 転入 or 出生 reaches subscribers that do not number the person yet as 未採番, so they can."""

from __future__ import annotations

from platform_hub.protocol.numbers import UNNUMBERED_ATENA, atena_number
from tests.helpers import (
    NS,
    YAMADA,
    HubClient,
    count_rows,
    ido_notification,
    rows,
    serve_in_thread,
    wait_until,
)
from tests.units import TestUnit

MOVED_IN = {"TennyumaeJusho": "大阪府大阪市北区梅田一丁目１番"}


def received_atena(unit: TestUnit, index: int) -> str | None:
    return unit.received[index].findtext(".//lk:Payload/lk:AtenaNo", namespaces=NS)


def test_a_newcomer_reaches_a_unit_without_their_number_as_unnumbered(
    hub: HubClient, database_url: str
) -> None:
    zeimu = TestUnit()
    with serve_in_thread(zeimu.app()) as url:
        hub.register("002", url)
        juki = hub.unit_headers(hub.register("001"))
        newcomer = ido_notification(
            atena=atena_number(900), jiyu="01", my_number="123456789018", changes=MOVED_IN
        )
        assert hub.send(newcomer, juki).status_code == 200
        wait_until(lambda: len(zeimu.received) == 1)
        assert received_atena(zeimu, 0) == UNNUMBERED_ATENA  # 002 has no number for them yet
        # The hub commits the delivery's entry once 002 has answered: after 002 has the message.
        wait_until(lambda: count_rows(database_url, "transfer_records") == 1)
        (record,) = rows(
            database_url, "SELECT requesting_unit, outcome, subject_integrated_number FROM transfer_records"
        )
        assert (record.requesting_unit, record.outcome) == (
            "002",
            "delivered",
        ) and record.subject_integrated_number

        # A change of someone the unit does not handle is still not its business.
        hub.enroll({"001": YAMADA["001"]})
        assert hub.send(ido_notification(jiyu="03"), juki).status_code == 200
        wait_until(lambda: count_rows(database_url, "transfer_records") == 2)
        assert len(zeimu.received) == 1
        (refused,) = rows(database_url, "SELECT outcome FROM transfer_records WHERE outcome = 'refused'")
        assert refused.outcome == "refused"


def test_the_unnumbered_number_cannot_be_linked(hub: HubClient) -> None:
    integrated = hub.enroll({"001": YAMADA["001"]})
    linked = hub.http.post(
        f"/addressees/{integrated}/links",
        headers=hub.admin(),
        json={"unit_code": "002", "atena_number": UNNUMBERED_ATENA, "reason": "誤り"},
    )
    assert linked.status_code == 400 and "未採番" in linked.json()["error"]["message"]
