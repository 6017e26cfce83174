"""A hostile client generated from the OpenAPI schema (schemathesis, every check) on a bounded
budget: no 5xx, every response as the schema declares it, every error in the declared shape."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from tests.factories import (
    CarrierFactory,
    HubFactory,
    OrganizationFactory,
    VehicleFactory,
    api_token,
)

EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def wsgi_app(db):
    # Requests run in this thread, inside the test's transaction: keep its connection open between
    # them, as Django's own test client does.
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(db):
    org = OrganizationFactory()
    hub = HubFactory(organization=org, code="HUB1")
    VehicleFactory(fleet__hub=hub, code="VAN1")
    CarrierFactory(organization=org, code="C1")
    return api_token(org)


def test_the_api_holds_against_generated_requests(wsgi_app, token):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @hsettings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.call_and_validate(headers={"Authorization": f"Token {token}"})

        try:
            check()
        except BaseException as exc:  # noqa: BLE001 (hypothesis raises groups): collect every failure, then report all
            failures.append(f"{operation.label}: {str(exc)[:600]}")

    assert operations >= 15
    assert failures == [], "\n\n".join(failures)
