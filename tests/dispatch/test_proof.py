"""Proof of delivery from requirement to report: required per service level or order, passed to
vans in the manifest, received from the driver app with type, size and PIN checks, stored through
Django's storage, shown to the organization only; a delivery without it raises an exception and is
counted in the reports."""

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from dispatch.models import OrderException, ProofOfDelivery, ServiceLevelRule
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.reporting.rollups import rollups_refresh
from dispatch.status import Role
from tests.factories import OrderFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def needs_proof(org, hub):
    ServiceLevelRule.objects.create(organization=org, service_level="same_day", late_fixed=12, late_per_min="0.15", unserved=70,
                                    proof_required=["photo", "pin"])
    van = VehicleFactory(fleet__hub=hub, code="POD1")
    order = OrderFactory(hub=hub, external_ref="POD-1", proof_required=["age_check"])
    assignment_to_vehicle(order=order, vehicle=van, actor=ActorRef.system("t"))
    return order


def deliver(api, ref):
    assert api.post(f"/api/orders/{ref}/status/", {"status": "picked_up"}, format="json").status_code == 200
    return api.post(f"/api/orders/{ref}/status/", {"status": "delivered"}, format="json")


def test_the_manifest_tells_the_driver_what_proof_to_collect(api, needs_proof):
    stops = api.get("/api/vehicles/POD1/manifest/").json()["stops"]
    delivery = next(s for s in stops if s["kind"] == "delivery")
    assert delivery["proof_required"] == ["age_check", "photo", "pin"]


def test_the_driver_app_sends_proof_with_checks_then_delivers(api, needs_proof):
    url = "/api/orders/POD-1/proof/"
    bad_type = api.post(url, {"kind": "photo", "file": SimpleUploadedFile("p.gif", b"GIF89a...", content_type="image/gif")}, format="multipart")
    assert bad_type.status_code == 400 and "image/jpeg" in bad_type.json()["error"]["fields"]["file"][0]
    lying = api.post(url, {"kind": "photo", "file": SimpleUploadedFile("p.png", b"not a png at all", content_type="image/png")}, format="multipart")
    assert lying.status_code == 400 and "contents are not image/png" in lying.json()["error"]["fields"]["file"][0]
    big = api.post(url, {"kind": "photo", "file": SimpleUploadedFile("p.png", PNG + b"\0" * 1_600_000, content_type="image/png")},
                   format="multipart")
    assert big.status_code in (400, 413)
    assert api.post(url, {"kind": "photo"}, format="multipart").status_code == 400
    wrong_pin = api.post(url, {"kind": "pin", "pin": "0000" if needs_proof.delivery_pin != "0000" else "1111"}, format="json")
    assert wrong_pin.status_code == 400 and "not this order's PIN" in wrong_pin.content.decode()
    photo = api.post(url, {"kind": "photo", "file": SimpleUploadedFile("door.png", PNG, content_type="image/png")}, format="multipart")
    assert photo.status_code == 201 and photo.json()["missing"] == ["age_check", "pin"]
    assert api.post(url, {"kind": "pin", "pin": needs_proof.delivery_pin}, format="json").json()["missing"] == ["age_check"]
    assert api.post(url, {"kind": "age_check", "checked": True}, format="json").json()["missing"] == []

    assert deliver(api, "POD-1").json()["proof_missing"] is False
    assert not OrderException.objects.filter(kind="missing_proof").exists()
    stored = ProofOfDelivery.objects.get(order=needs_proof, kind="photo")
    assert stored.file.name.startswith(f"proof/{needs_proof.organization_id}/") and stored.file.read() == PNG


def test_a_delivery_without_proof_raises_an_exception_counts_in_reports_and_late_proof_resolves_it(api, needs_proof, org):
    assert deliver(api, "POD-1").json()["proof_missing"] is True
    exc = OrderException.objects.get(kind="missing_proof")
    assert "age_check, photo, pin" in exc.title and exc.state == "open"
    rollups_refresh()
    from dispatch.reporting import performance

    day = needs_proof.service_date.isoformat()
    f = performance.Filters.parse({"period": "custom", "from": day, "to": day})
    assert performance.totals(organization_id=org.id, f=f)["without_proof"] == 1

    url = "/api/orders/POD-1/proof/"
    api.post(url, {"kind": "photo", "file": SimpleUploadedFile("door.png", PNG, content_type="image/png")}, format="multipart")
    api.post(url, {"kind": "pin", "pin": needs_proof.delivery_pin}, format="json")
    api.post(url, {"kind": "age_check", "checked": True}, format="json")
    exc.refresh_from_db()
    needs_proof.refresh_from_db()
    assert exc.state == "resolved" and needs_proof.proof_missing is False
    rollups_refresh()
    assert performance.totals(organization_id=org.id, f=f)["without_proof"] == 0


def test_proof_files_are_served_to_their_organization_only(api, needs_proof, org, other_org):
    api.post("/api/orders/POD-1/proof/", {"kind": "photo", "file": SimpleUploadedFile("door.png", PNG, content_type="image/png")},
             format="multipart")
    proof = ProofOfDelivery.objects.get()
    mine = Client()
    mine.force_login(UserFactory(organization=org, role=Role.DISPATCHER))
    response = mine.get(f"/proof/{proof.id}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png" and "sandbox" in response["Content-Security-Policy"]
    page = mine.get("/orders/POD-1/").content.decode()
    assert f"/proof/{proof.id}/" in page and "age_check, photo, pin" in page
    theirs = Client()
    theirs.force_login(UserFactory(organization=other_org, role=Role.ADMIN))
    assert theirs.get(f"/proof/{proof.id}/").status_code == 404
    assert Client().get(f"/proof/{proof.id}/").status_code == 302  # to the login


@pytest.fixture
def s3_bucket(settings):
    """An S3-compatible server on loopback (moto's, over real HTTP) with a fresh bucket, and the
    product's storage pointed at it the way S3_BUCKET/S3_ENDPOINT_URL would."""
    import boto3
    from moto.server import ThreadedMotoServer

    from controltower.settings import s3_storage

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = {"aws_access_key_id": "ct-test", "aws_secret_access_key": "ct-test-secret", "region_name": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, **keys)
    client.create_bucket(Bucket="ct-proof")
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage("ct-proof", endpoint, "ct-test", "ct-test-secret", "us-east-1")}
    yield client
    server.stop()


def test_proof_files_go_to_an_s3_compatible_bucket_when_one_is_set(api, needs_proof, org, other_org, s3_bucket, settings):
    response = api.post("/api/orders/POD-1/proof/",
                        {"kind": "photo", "file": SimpleUploadedFile("door.png", PNG, content_type="image/png")}, format="multipart")
    assert response.status_code == 201
    proof = ProofOfDelivery.objects.get()
    keys = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket="ct-proof")["Contents"]]
    assert keys == [proof.file.name] and keys[0].startswith(f"proof/{org.id}/")
    assert s3_bucket.get_object(Bucket="ct-proof", Key=keys[0])["Body"].read() == PNG
    assert not (settings.MEDIA_ROOT / "proof").exists()  # nothing on local disk
    # private: no public-read ACL on the object
    grants = s3_bucket.get_object_acl(Bucket="ct-proof", Key=keys[0])["Grants"]
    assert not [g for g in grants if "AllUsers" in str(g.get("Grantee", {}))]

    mine = Client()
    mine.force_login(UserFactory(organization=org, role=Role.OPS_MANAGER))
    served = mine.get(f"/proof/{proof.id}/")
    assert served.status_code == 200 and b"".join(served.streaming_content) == PNG
    theirs = Client()
    theirs.force_login(UserFactory(organization=other_org, role=Role.ADMIN))
    assert theirs.get(f"/proof/{proof.id}/").status_code == 404
