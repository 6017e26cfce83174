"""Guessing passwords or tokens stops working after a few tries; real mode refuses to run on a
default secret key, and production settings pass Django's deployment checks."""

import os
import subprocess
import sys

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import ROOT
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_after_ten_wrong_passwords_even_the_right_one_is_refused(settings):
    user = UserFactory(username="dana")
    client = Client(REMOTE_ADDR="203.0.113.9")

    wrong = [client.post("/login/", {"username": "dana", "password": f"guess-{i}"}).status_code for i in range(settings.AXES_FAILURE_LIMIT)]
    right = client.post("/login/", {"username": "dana", "password": "pw-for-tests"})

    assert set(wrong[:-1]) == {200}  # the form again, with its error
    assert right.status_code == 429
    assert b"Too many failed log-ins" in right.content
    assert "_auth_user_id" not in client.session
    assert user.is_active


def test_a_lockout_is_per_user_and_address(settings):
    UserFactory(username="dana")
    attacker, colleague = Client(REMOTE_ADDR="203.0.113.9"), Client(REMOTE_ADDR="198.51.100.7")
    for i in range(settings.AXES_FAILURE_LIMIT):
        attacker.post("/login/", {"username": "dana", "password": f"guess-{i}"})

    response = colleague.post("/login/", {"username": "dana", "password": "pw-for-tests"})

    assert response.status_code == 302


def test_wrong_api_tokens_from_one_address_are_throttled(settings, org):
    client = APIClient(REMOTE_ADDR="203.0.113.10")
    client.credentials(HTTP_AUTHORIZATION="Token ct_not-a-real-token")

    codes = [client.get("/api/orders/").status_code for _ in range(settings.API_AUTH_FAILURES_PER_MIN + 1)]

    assert set(codes[:-1]) == {401}
    assert codes[-1] == 429


def test_api_clients_over_their_rate_get_a_429_with_retry_after(api, monkeypatch):
    from dispatch.api.throttles import OrganizationRateThrottle

    monkeypatch.setattr(OrganizationRateThrottle, "rate", "3/min", raising=False)

    codes = [api.get("/api/vehicles/") for _ in range(4)]

    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    assert int(codes[-1]["Retry-After"]) > 0
    assert codes[-1].json()["error"]["code"] == "throttled"


def _manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY",)}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_real_mode_refuses_to_start_without_a_secret_key():
    result = _manage("check", DATABASE_URL="postgres://postgres@127.0.0.1:5432/controltower")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_settings_pass_the_deployment_checks():
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     DATABASE_URL="postgres://postgres@127.0.0.1:5432/controltower",
                     SECRET_KEY="k" * 20 + "a-real-deployment-key-Zq8#x!2vLm@9pR$w", HTTPS="true", ALLOWED_HOSTS="tower.example.com")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_every_page_carries_a_content_security_policy(client):
    response = client.get("/login/")

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_an_htmx_post_without_its_csrf_token_is_refused(org):
    from dispatch.models import Decision, OrderException

    user = UserFactory(organization=org)
    exc = OrderException.objects.create(organization=org, kind="carrier_outage", cause_key="c", title="t", detected_at=org.created_at)
    decision = Decision.objects.create(organization=org, exception=exc, moves=[])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(f"/live/decisions/{decision.id}/reject/", {"version": 1}, HTTP_HX_REQUEST="true")

    assert response.status_code == 403
    decision.refresh_from_db()
    assert decision.state == "proposed"
