"""The OpenAPI document is valid OpenAPI 3.1, and the API keeps every promise it makes.

Schemathesis generates requests from the document, schema-valid ones and schema-invalid ones, for the
public and the host operations, sends them to the running server and runs all its checks on each answer:
no server error, a documented status code, the documented content type and headers, a body that matches
the documented schema, invalid data refused, valid data accepted, authentication not ignored. The test
runs on both databases (``-m postgres``). ``YOYAKU_FUZZ_EXAMPLES`` raises the number of examples per
operation and mode for a longer run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis.config import PositiveDataAcceptanceConfig
from schemathesis.generation import GenerationMode

from tests.factories import api_key_for, make_host, make_link

pytestmark = pytest.mark.postgres

EXAMPLES = int(os.environ.get("YOYAKU_FUZZ_EXAMPLES", "12"))
# Valid by the schema is not always acceptable: a page offers some durations and not others, a time
# zone must exist, a slot must be free. Those rules answer 422 with the field to fix; the schema cannot
# express them all, so 422 counts as an expected answer to schema-valid data as well.
POSITIVE_STATUSES = ["2xx", "401", "403", "404", "409", "422", "429", "503"]
# Invalid data is refused with a 4xx; 413 (a body over the size limit, which invalid data can make by
# being too long) is a refusal as well, though schemathesis does not list it by default.
NEGATIVE_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]


@pytest.mark.django_db
def test_the_document_is_valid_openapi_3_1() -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    errors = [str(error) for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


@pytest.mark.django_db
def test_every_operation_documents_its_error_statuses() -> None:
    document = Client().get("/api/v1/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            where = f"{method.upper()} {path}"
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= statuses, where
            if operation.get("security"):
                assert "401" in statuses, where
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    # A taken time is the error shape plus the free times to offer instead.
                    shapes = [{"$ref": "#/components/schemas/ErrorOut"}]
                    if status == "409":
                        shapes.append({"$ref": "#/components/schemas/TakenOut"})
                    assert schema in shapes, (where, status)


@pytest.fixture
def api_schema(transactional_db, live_server) -> Any:  # type: ignore[no-untyped-def]
    host = make_host()
    make_link(
        host,
        durations=[15, 30],
        form_fields=[{"key": "company", "label": "Company", "type": "text", "required": True}],
    )
    key = api_key_for(host)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    schema.config.headers = {"Authorization": f"Bearer {key}"}
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=POSITIVE_STATUSES
    )
    schema.config.checks.negative_data_rejection.expected_statuses = NEGATIVE_STATUSES
    return schema


def test_the_api_keeps_its_document_under_generated_requests(api_schema: Any) -> None:
    # Operations are driven one by one with Hypothesis directly (the schemathesis pytest plugin does
    # not load under this pytest version); every failure is collected so one run shows them all.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    statuses: Counter[int] = Counter()
    failures: dict[str, str] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                # The suite's run is the same every time; a longer run explores anew.
                derandomize="YOYAKU_FUZZ_EXAMPLES" not in os.environ,
            )
            def check(case: Any) -> None:
                response = case.call()
                statuses[response.status_code] += 1
                case.validate_response(response)

            try:
                check()
            except Unsatisfiable:
                pass  # nothing in this operation can be made invalid (no parameters, no body)
            # Schemathesis raises its findings as a BaseExceptionGroup; report every operation's at the end.
            except (Exception, BaseExceptionGroup) as error:
                failures[f"{operation.label} ({mode.value})"] = str(error)[:2000]
    # Shown with -s: what a run sent and got.
    print(f"fuzz: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) > len(operations)
    assert not [s for s in statuses if s >= 500], dict(statuses)
    assert failures == {}, json.dumps(failures, indent=1)
