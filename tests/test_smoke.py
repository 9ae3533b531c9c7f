from tests.helpers import HubClient, zei_query, header_field, serve_in_thread, count_rows
from tests.units import TestUnit, zei_answer


def test_query_through_hub(hub: HubClient, database_url: str) -> None:
    zeimu = TestUnit(answer=zei_answer)
    with serve_in_thread(zeimu.app()) as url:
        hub.register("002", url)
        jidou = hub.register("011")
        response = hub.send(zei_query(), hub.unit_headers(jidou))
        assert response.status_code == 200, response.text
        assert header_field(response.content, "MSGResult") == "0"
    assert count_rows(database_url, "transfer_records") == 1
