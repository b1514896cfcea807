"""Property-based requests generated from the OpenAPI spec (in-process ASGI) never get a 5xx.

Generated requests include valid and invalid ones (wrong types, missing fields: schemathesis' negative
mode), so the run also checks that every answer is documented and matches its response schema. The
smoke variant runs in CI; the full one (more examples per route) is marked slow.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from recpilot.api import create_app
from recpilot.service import RecommenderService

_CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _fuzz(service: RecommenderService, max_examples: int) -> list[str]:
    app = create_app(service=service)
    headers = {"Authorization": f"Bearer {service.create_api_key('schemathesis').key}"}
    tested: list[str] = []
    with TestClient(app):  # runs the lifespan: the service is attached to the app
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            tested.append(operation.label)
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=max_examples,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    derandomize=True,
                )
                def check(case: schemathesis.Case) -> None:
                    case.call_and_validate(headers=headers, checks=_CHECKS)

                try:
                    check()
                except Unsatisfiable:  # a route without inputs has no invalid request to make
                    assert mode is schemathesis.GenerationMode.NEGATIVE
    return tested


def test_generated_requests_smoke(service: RecommenderService) -> None:
    tested = _fuzz(service, max_examples=3)
    assert "POST /v1/recommend" in tested
    assert "POST /v1/feedback" in tested


@pytest.mark.slow
def test_generated_requests_full(service: RecommenderService) -> None:
    _fuzz(service, max_examples=40)
