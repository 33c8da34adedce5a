"""Schemathesis generates requests from the OpenAPI document and sends them to the running
server; none may end in a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.factories import api_key_for, make_host, make_link


@pytest.fixture
def api_schema(transactional_db, live_server):  # type: ignore[no-untyped-def]
    host = make_host()
    make_link(
        host,
        durations=[15, 30],
        form_fields=[{"key": "company", "label": "Company", "type": "text", "required": True}],
    )
    key = api_key_for(host)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    schema.config.headers = {"Authorization": f"Bearer {key}"}
    return schema


def test_api_never_answers_with_a_server_error(api_schema) -> None:  # type: ignore[no-untyped-def]
    # Operations are driven one by one with Hypothesis directly (the schemathesis
    # pytest plugin does not load under this pytest version).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error])

        check()
