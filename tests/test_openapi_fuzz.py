"""Every JSON endpoint fuzzed from its own OpenAPI (schemathesis): never a 5xx, every answer as documented."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.helpers import HubClient, count_rows

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def test_json_endpoints_never_fail_and_answer_as_documented(hub: HubClient) -> None:
    schema = schemathesis.openapi.from_url(f"{hub.http.base_url}/openapi.json")
    operations = [result.ok() for result in schema.exclude(path="/linkage/messages").get_all_operations()]
    assert len(operations) > 25
    # The role each part is for, so a request reaches the handler rather than stopping at the role check.
    admin, auditor = hub.admin(), hub.staff("auditor")
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def fuzz(case: schemathesis.Case) -> None:
            generated = dict(case.headers or {})  # e.g. /oauth/token's Basic credentials win
            role = auditor if case.operation.path.startswith("/audit/") else admin
            own_auth = any(name.lower() == "authorization" for name in generated)
            case.call_and_validate(headers={**({} if own_auth else role), **generated}, checks=CHECKS)

        fuzz()


def test_text_no_database_stores_is_refused_at_the_door(hub: HubClient, database_url: str) -> None:
    """What the fuzzing found on PostgreSQL: a NUL or a lone surrogate, anywhere a request carries text."""
    admin = {**hub.admin(), "Content-Type": "application/json"}
    body = '{"unit_code": "777", "name": "x", "organ": "%s", "base_url": "http://127.0.0.1:9"}'
    for organ in ("\\u0000", "\\ud800"):
        answer = hub.http.post("/adapters", content=body % organ, headers=admin)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "E1002", answer.text
    for path in ("/audit/transfers?purpose=%00", "/audit/persons/" + "9" * 40):
        answer = hub.http.get(path, headers=hub.staff("auditor"))
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "E1002", answer.text
    assert count_rows(database_url, "units") == 0
