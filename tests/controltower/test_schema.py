"""The OpenAPI schema declares how integrators authenticate and what errors look like."""

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_token_auth_is_declared_and_used_by_every_operation(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["tokenAuth"]["description"],
    }
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert {"tokenAuth": []} in operation["security"], (method, path)


def test_every_operation_declares_its_error_responses_in_one_shape(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status in ("400", "401", "403", "404", "409", "429"):
                content = operation["responses"][status]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]


def test_the_api_docs_page_needs_no_inline_script(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"<script>" not in response.content
