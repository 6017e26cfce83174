"""The demo's seed and the simulator's command line."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from carriers.models import Carrier
from dispatch.models import Order, Organization, User
from dispatch.simulation.disruptions import KINDS, parse

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_demo_builds_a_planned_city_and_prints_the_login(tmp_path):
    out = io.StringIO()

    call_command("seed_demo", "--orders", "30", "--vans-per-hub", "2", "--password", "pw-demo-123",
                 "--token-file", str(tmp_path / "token"), stdout=out)

    org = Organization.objects.get(slug="demo")
    assert "user: dispatcher  password: pw-demo-123" in out.getvalue()
    assert User.objects.get(username="dispatcher").check_password("pw-demo-123")
    assert Order.objects.filter(organization=org).count() == 30
    assert not Order.objects.filter(organization=org, vehicle__isnull=True, carrier__isnull=True).exists()
    assert (tmp_path / "token").read_text().startswith("ct_")


def test_seed_demo_with_a_sandbox_configures_carriers_with_apis_and_writes_the_sandbox_config(tmp_path, settings):
    settings.VAR_DIR = tmp_path

    call_command("seed_demo", "--orders", "10", "--vans-per-hub", "1", "--token-file", str(tmp_path / "token"),
                 "--sandbox-url", "http://127.0.0.1:8100", stdout=io.StringIO())

    adapters = dict(Carrier.objects.values_list("code", "adapter"))
    config = json.loads((tmp_path / "sandbox.json").read_text())
    assert sorted(adapters.values()) == ["generic", "manual", "sandbox", "sandbox"]
    assert {c["code"] for c in config["carriers"]} == {code for code, a in adapters.items() if a != "manual"}
    assert all(c["webhook_url"].endswith(f"/webhooks/carriers/demo/{c['code']}/") for c in config["carriers"])
    assert config["clock"]["speed"] == 60.0


def test_every_disruption_kind_parses_and_a_bad_spec_is_refused():
    for kind in KINDS:
        assert parse(f"{kind}:X@10+5").kind == kind
    with pytest.raises(ValueError, match="KIND:TARGET@START"):
        parse("volcano:GIG@10")
    with pytest.raises(CommandError, match="Bad disruption"):
        call_command("simulate", "--disrupt", "carrier_outage:GIG", stdout=io.StringIO())


def test_the_simulator_sends_a_request_again_after_a_503_with_retry_after_instead_of_stopping():
    # A real HTTP server that is briefly unavailable once (as the API answers when the database
    # restarts or picks the request as a deadlock's victim: nothing written, retry).
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from dispatch.simulation.simulator import ApiClient

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(self.path)
            first = len(seen) == 1
            self.send_response(503 if first else 200)
            if first:
                self.send_header("Retry-After", "0.2")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = ApiClient(f"http://127.0.0.1:{server.server_port}", "token")
        response = client.post("/api/orders/X/status/", {"status": "picked_up"})
    finally:
        server.shutdown()

    assert response.status_code == 200
    assert seen == ["/api/orders/X/status/", "/api/orders/X/status/"]
