"""A network brought in from files as an admin does it on Settings → Network → Import: a dry run
that writes nothing and says what would happen row by row, errors named by file, row and column
with nothing imported, an all-or-nothing import recorded as versions, and the export that comes
back as 'nothing to change' (then as exactly the edit made to it), in CSV and in Excel."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from carriers.models import Carrier, CarrierZone, RateCard
from dispatch.models import Driver, Fleet, Hub, NetworkImport, ServiceLevelRule, Shift, User, Vehicle
from dispatch.status import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FILES = {
    "hubs.csv": "code,name,lat,lon\nNORTH,North depot,41.95,-87.66\nSOUTH,South depot,41.80,-87.62\n",
    "fleets.csv": "name,hub\nNorth vans,NORTH\nSouth vans,SOUTH\n",
    "vehicles.csv": "code,fleet,capacity_kg,skills,cost_per_km\nN-1,North vans,800,cold;fragile,0.6\nS-1,South vans,600,,\n",
    "drivers.csv": "code,name,phone\nD-1,Sam Lee,+13125550100\nD-2,Kim Ng,\n",
    "shifts.csv": "driver,vehicle,starts_at,ends_at\nD-1,N-1,2026-12-08T08:00:00-06:00,2026-12-08T16:00:00-06:00\n",
    "carriers.csv": "code,name,service_levels,lead_min,pickup_cutoff\nSWIFT,Swift Couriers,same_day;next_day,60,17:00\n",
    "zones.csv": "carrier,name,lat,lon,radius_km,surcharge\nSWIFT,Downtown,41.88,-87.63,8,1.5\n",
    "rates.csv": "carrier,service_level,base,per_kg,per_km,fuel_pct\nSWIFT,same_day,9.5,0.2,0.35,4\nSWIFT,next_day,6,0.1,0.2,4\n",
    "surcharges.csv": "carrier,service_level,over_kg,fee\nSWIFT,same_day,20,4\nSWIFT,same_day,50,10\n",
    "service_levels.csv": "service_level,lead_min,cutoff,max_window_min\nsame_day,60,14:00,240\n",
    "users.csv": "username,email,role,hubs,driver\nana.ruiz,ana@example.com,dispatcher,NORTH,\nsam.lee,,driver,,D-1\n",
}


@pytest.fixture
def admin(org):
    c = Client()
    c.force_login(UserFactory(organization=org, role=Role.ADMIN, is_staff=True))
    return c


def post(client, action, files: dict):
    uploads = [SimpleUploadedFile(name, body if isinstance(body, bytes) else body.encode()) for name, body in files.items()]
    return client.post("/settings/network/import/", {"action": action, "files": uploads})


def test_a_dry_run_says_what_would_happen_and_writes_nothing_then_the_import_does_it_all(org, admin):
    checked = post(admin, "check", FILES)

    assert checked.status_code == 200, checked.content.decode()[:2000]
    report = checked.context["report"]
    assert report["errors"] == [] and report["counts"]["vehicles"]["create"] == 2 and report["counts"]["users"]["create"] == 2
    assert not Hub.objects.filter(organization=org).exists() and not NetworkImport.objects.exists()

    done = post(admin, "import", FILES)

    assert done.status_code == 200 and "Imported (import #" in done.content.decode()
    van = Vehicle.objects.get(organization=org, code="N-1")
    assert (van.fleet.hub.code, van.skills, van.cost_per_km, van.cost_per_hour) == ("NORTH", ["cold", "fragile"], 0.6, 24.0)
    assert Shift.objects.get(driver__code="D-1").vehicle == van
    rate = RateCard.objects.get(carrier__code="SWIFT", service_level="same_day")
    assert (rate.base, rate.fuel_pct, rate.weight_breaks) == (9.5, 4.0, [[20.0, 4.0], [50.0, 10.0]])
    assert CarrierZone.objects.get(name="Downtown").surcharge == 1.5
    rule = ServiceLevelRule.objects.get(organization=org, service_level="same_day")
    assert (rule.lead_min, rule.cutoff.strftime("%H:%M"), rule.max_window_min) == (60, "14:00", 240)
    ana, sam = User.objects.get(username="ana.ruiz"), User.objects.get(username="sam.lee")
    assert [h.code for h in ana.hubs.all()] == ["NORTH"] and sam.driver.code == "D-1" and sam.role == "driver"
    passwords = {p["username"]: p["password"] for p in done.context["report"]["passwords"]}
    assert ana.check_password(passwords["ana.ruiz"])
    record = NetworkImport.objects.get()
    assert record.summary["hubs"]["create"] == 2 and set(record.files) == set(FILES)
    assert van.history.first().history_change_reason == f"network import #{record.pk}"


def test_every_bad_row_is_named_by_file_row_and_column_and_nothing_is_imported(org, admin):
    bad = dict(FILES)
    bad["hubs.csv"] = "code,name,lat,lon\nNORTH,North depot,141.95,-87.66\nSOUTH,South depot,41.80,-87.62\nSOUTH,Again,41.8,-87.6\n"
    bad["vehicles.csv"] = "code,fleet,capacity_kg,skills\nN-1,Nowhere vans,800,cold\nS-1,South vans,lots,frozen\n"
    bad["users.csv"] = "username,email,role\nx,,pilot\n"

    r = post(admin, "import", bad)

    assert r.status_code == 400
    errors = {(e["kind"], e["row"], e["column"]) for e in r.context["report"]["errors"]}
    assert {("hubs", 2, "lat"), ("hubs", 4, "code"), ("vehicles", 2, "fleet"), ("vehicles", 3, "capacity_kg"), ("users", 2, "role")} <= errors
    assert "Nothing was imported" in r.content.decode()
    assert not Hub.objects.filter(organization=org).exists() and not Vehicle.objects.exists() and not NetworkImport.objects.exists()
    wrong_header = post(admin, "check", {"hubs.csv": "code,title\nA,B\n"})
    assert wrong_header.status_code == 400 and "missing name, lat, lon; unknown title" in wrong_header.content.decode()
    unnamed = post(admin, "check", {"depots.csv": "code\n"})
    assert "name each CSV after what it holds" in unnamed.content.decode()


def test_the_export_comes_back_unchanged_and_an_edit_in_the_workbook_is_exactly_one_change(org, admin):
    post(admin, "import", FILES)
    workbook = admin.get("/settings/network/export.xlsx")
    assert workbook.status_code == 200

    again = post(admin, "check", {"network.xlsx": workbook.content})

    report = again.context["report"]
    assert report["errors"] == [] and [r for r in report["rows"] if r["action"] != "unchanged"] == []

    book = load_workbook(io.BytesIO(workbook.content))
    sheet = book["vehicles"]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "S-1")
    row[header.index("capacity_kg")].value = 650
    out = io.BytesIO()
    book.save(out)
    edited = post(admin, "import", {"network.xlsx": out.getvalue()})

    changed = [r for r in edited.context["report"]["rows"] if r["action"] == "update"]
    assert changed == [{"kind": "vehicles", "row": changed[0]["row"], "key": "S-1", "action": "update", "changes": {"capacity_kg": [600.0, 650.0]}}]
    assert Vehicle.objects.get(code="S-1").capacity_kg == 650
    csv_export = admin.get("/settings/network/export/vehicles.csv").content.decode()
    assert csv_export.splitlines()[0].startswith("code,fleet,capacity_kg") and "S-1,South vans,650.0" in csv_export
    template = admin.get("/settings/network/templates/rates.csv").content.decode()
    assert template.splitlines()[0] == "carrier,service_level,base,per_kg,per_km,fuel_pct,after_hours_from,after_hours_fee"


def test_a_bad_row_of_every_kind_is_named(org, admin):
    bad = {
        "hubs.csv": "code,name,lat,lon\nNORTH,North depot,41.95,east\n",
        "fleets.csv": "name,hub\nNorth vans,NOWHERE\n",
        "vehicles.csv": "code,fleet,capacity_kg,cost_per_km\nN-1,North vans,800,-3\n",
        "drivers.csv": "code,name\nD-1,\n",
        "shifts.csv": "driver,vehicle,starts_at,ends_at\nD-9,N-1,2026-12-08T16:00:00-06:00,2026-12-08T08:00:00-06:00\n",
        "carriers.csv": "code,name,service_levels,pickup_cutoff\nSWIFT,Swift,same_day;warp,25:00\n",
        "zones.csv": "carrier,name,lat,lon,radius_km\nGHOST,Downtown,41.88,-87.63,8\n",
        "rates.csv": "carrier,service_level,base\nSWIFT,overnight,9.5\n",
        "surcharges.csv": "carrier,service_level,over_kg,fee\nSWIFT,same_day,heavy,4\n",
        "service_levels.csv": "service_level,lead_min\nsame_day,-5\n",
        "users.csv": "username,role,driver\nkim,driver,D-404\n",
    }

    r = post(admin, "check", bad)

    kinds = {e["kind"] for e in r.context["report"]["errors"]}
    assert kinds == {k.removesuffix(".csv") for k in bad}, r.context["report"]["errors"]
    assert all(e["row"] == 2 and e["message"] for e in r.context["report"]["errors"])


@pytest.mark.parametrize("role", [Role.DISPATCHER, Role.OPS_MANAGER])
def test_only_admins_import_the_network(org, role):
    c = Client()
    c.force_login(UserFactory(organization=org, role=role))

    assert post(c, "import", FILES).status_code == 403
    assert c.get("/settings/network/export.xlsx").status_code == 403
    assert not Hub.objects.filter(organization=org).exists() and not Carrier.objects.exists() and not Fleet.objects.exists() \
        and not Driver.objects.exists()


def test_a_file_too_large_is_refused_whole_never_cut(org, admin, monkeypatch):
    from dispatch.configuration import network_files

    monkeypatch.setattr(network_files, "MAX_FILE_BYTES", 200)
    big = "code,name,lat,lon\n" + "".join(f"H{i},Hub {i},41.9,-87.6\n" for i in range(20))

    r = post(admin, "import", {"hubs.csv": big})

    assert r.status_code == 400 and "hubs.csv: at most" in r.content.decode()
    assert not Hub.objects.filter(organization=org).exists()
