"""REST endpoints. Thin: parse and authorize, call one service or selector, return."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from carriers.models import Carrier, WebhookDelivery, WebhookSubscription
from integrations.webhooks import redeliver
from carriers.services import (
    carrier_events_apply,
    carrier_report_capacity,
    carrier_set_health,
)
from dispatch import selectors
from dispatch.engine.decisions import (
    decision_approve,
    decision_override,
    decision_reject,
)
from dispatch.errors import Conflict, ValidationFailed
from dispatch.services import ActorRef
from dispatch.services.fleet import driver_set_status, vehicle_set_status
from dispatch.services.orders import (
    BEFORE_PICKUP,
    order_cancel,
    order_set_status,
    order_update,
    orders_create,
)
from dispatch.services.positions import positions_ingest
from dispatch.services.proof import missing_proof, proof_record
from dispatch.status import PROOF_MAX_BYTES, Actor

from . import order_files
from . import serializers as s
from .errors import error_body
from .auth import CanDecide, organization_id_of
from .idempotency import idempotent

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Repeat the same key and body to get the first response again; another body with it is a 409.",
)


def actor_of(request) -> ActorRef:
    user = request.user
    if request.auth is not None:
        return ActorRef(Actor.API, user.get_username())
    return ActorRef(Actor.USER, user.get_username())


def valid(serializer_class, data, **kw):
    serializer = serializer_class(data=data, **kw)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class OrderListCreate(generics.GenericAPIView):
    serializer_class = s.OrderSerializer

    @extend_schema(parameters=[s.OrderListQuerySerializer], responses=s.OrderSerializer(many=True))
    def get(self, request):
        filters = valid(s.OrderListQuerySerializer, request.query_params)
        qs = selectors.orders_for(organization_id=organization_id_of(request), **filters)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(s.OrderSerializer(page, many=True).data)

    @extend_schema(request=s.OrderCreateSerializer, responses={201: s.OrderSerializer}, parameters=[IDEMPOTENCY_HEADER])
    def post(self, request):
        org = organization_id_of(request)

        def create():
            data = valid(s.OrderCreateSerializer, request.data)
            (order,) = orders_create(organization_id=org, orders=[data], actor=actor_of(request))
            return Response(s.OrderSerializer(order).data, status=status.HTTP_201_CREATED)

        return idempotent(request, organization_id=org, endpoint="orders.create", handler=create)


class OrderBatchCreate(APIView):
    @extend_schema(request=s.OrderBatchSerializer, responses={201: s.OrderSerializer(many=True)}, parameters=[IDEMPOTENCY_HEADER])
    def post(self, request):
        """Create up to 1,000 orders at once. All or nothing: one invalid order rejects the batch."""
        org = organization_id_of(request)

        def create():
            data = valid(s.OrderBatchSerializer, request.data)
            orders = orders_create(organization_id=org, orders=data["orders"], actor=actor_of(request))
            return Response({"created": len(orders), "orders": s.OrderSerializer(orders, many=True).data}, status=201)

        return idempotent(request, organization_id=org, endpoint="orders.batch", handler=create)


class CsvParser(BaseParser):
    """A CSV sent as the body itself (Content-Type: text/csv): handed on as bytes."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


class OrderImport(APIView):
    # The file as the body itself: daphne (twisted) answers a malformed multipart body with an empty
    # 400 before the request reaches the project, so the API takes no multipart here (the Import
    # orders page does, from a browser).
    parser_classes = [CsvParser, JSONParser]

    @extend_schema(request={"text/csv": OpenApiTypes.STR, "application/json": s.OrderImportJsonSerializer},
                   parameters=[s.OrderImportQuery], responses={200: dict, 201: dict})
    def post(self, request):
        """Orders from a file sent as the body (a CSV with the template's columns, or JSON in the API's order shape),
        checked row by row with the rules of POST /api/orders/. `dry_run=true` reports what would be
        created and every error with its row and column; otherwise every order is created, or none
        (400 with the same report). A retried import creates nothing twice: its references exist."""
        org = organization_id_of(request)
        dry_run = valid(s.OrderImportQuery, request.query_params)["dry_run"]
        try:
            if isinstance(request.data, bytes):
                rows = order_files.read_rows(request.data, csv_only=True)
            elif not request.data:
                raise order_files.FileRefused("The request carries no orders: send the file as the body, a CSV (text/csv) or "
                                              "JSON in the API's order shape.")
            else:
                rows = order_files.json_rows(valid(s.OrderImportJsonSerializer, request.data)["orders"])
        except order_files.FileRefused as refused:
            raise ValidationFailed(refused.message, errors={"file": [refused.message]}) from None
        if dry_run:
            report = order_files.check(organization_id=org, rows=rows)
            report.pop("_valid")
            return Response(report)
        try:
            report, created = order_files.import_orders(organization_id=org, rows=rows, actor=actor_of(request))
        except order_files.Refused as refused:
            return Response({**error_body("validation_failed", refused.message), "report": refused.report}, status=400)
        return Response({"created": len(created), "report": report}, status=201)


class OrderImportTemplate(APIView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        """The CSV template: the columns an order file has, and one example row."""
        hub = selectors.hubs_for(organization_id=organization_id_of(request)).values_list("code", flat=True).first()
        response = HttpResponse(order_files.template_csv(hub or "CENTRAL"), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="orders-template.csv"'
        return response


class OrderDetail(APIView):
    @extend_schema(responses=s.OrderSerializer)
    def get(self, request, ref):
        return Response(s.OrderSerializer(selectors.order_get(organization_id=organization_id_of(request), ref=ref)).data)

    @extend_schema(request=s.OrderUpdateSerializer, responses=s.OrderSerializer)
    def patch(self, request, ref):
        """Change an order not yet picked up (window, address, contents, instructions, contact): it is
        placed again by the engine and the customer is told once. After pickup: 409."""
        org = organization_id_of(request)
        data = valid(s.OrderUpdateSerializer, request.data)
        version = data.pop("version", None)
        order = selectors.order_get(organization_id=org, ref=ref)
        order = order_update(organization_id=org, order_id=order.id, changes=data, actor=actor_of(request), version=version)
        return Response(s.OrderSerializer(order).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, ref):
        """Withdraw an order before pickup: it is cancelled (its record kept). After pickup: 409."""
        org = organization_id_of(request)
        order = selectors.order_get(organization_id=org, ref=ref)
        if order.status not in BEFORE_PICKUP:
            raise Conflict(f"Order {ref} is {order.get_status_display().lower()}: it can only be deleted before pickup.",
                           current=order.status)
        order_cancel(organization_id=org, order_id=order.id, actor=actor_of(request), reason="deleted by the integrator")
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderCancel(APIView):
    @extend_schema(request=s.CancelSerializer, responses=s.OrderSerializer)
    def post(self, request, ref):
        org = organization_id_of(request)
        data = valid(s.CancelSerializer, request.data)
        order = selectors.order_get(organization_id=org, ref=ref)
        order = order_cancel(organization_id=org, order_id=order.id, actor=actor_of(request), reason=data["reason"])
        return Response(s.OrderSerializer(order).data)


class OrderStatusUpdate(APIView):
    @extend_schema(request=s.OrderStatusUpdateSerializer, responses=s.OrderSerializer)
    def post(self, request, ref):
        """Proof of pickup, delivery or failure from the own fleet's driver app."""
        org = organization_id_of(request)
        data = valid(s.OrderStatusUpdateSerializer, request.data)
        if data["status"] == "failed" and not data["failure_reason"]:
            raise ValidationFailed("A failed delivery needs a reason", errors={"failure_reason": ["Say why the delivery failed."]})
        order = selectors.order_get(organization_id=org, ref=ref)
        order = order_set_status(organization_id=org, order_id=order.id, status=data["status"], actor=actor_of(request),
                                 reason=data["note"], failure_reason=data["failure_reason"], at=data.get("at"))
        return Response(s.OrderSerializer(order).data)


class OrderProof(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request={"multipart/form-data": s.ProofUploadSerializer, "application/json": s.ProofUploadSerializer},
                   responses={201: s.ProofSerializer})
    def post(self, request, ref):
        """Proof of delivery from the own fleet's driver app: send it before (or with) the delivered
        status. A delivery without the proof its service level or order requires raises an exception
        for a dispatcher, resolved when the proof arrives."""
        org = organization_id_of(request)
        data = valid(s.ProofUploadSerializer, request.data)
        order = selectors.order_get(organization_id=org, ref=ref)
        upload = data.get("file")
        if data["kind"] in ("photo", "signature") and upload is None:
            raise ValidationFailed("The file is missing", errors={"file": [f"A {data['kind']} is sent as a file (multipart)."]})
        proof = proof_record(order=order, kind=data["kind"], source=f"driver app ({request.user.get_username()})"[:60],
                             actor=actor_of(request), content_type=getattr(upload, "content_type", "") or "",
                             data=upload.read(PROOF_MAX_BYTES + 1) if upload else b"", filename=getattr(upload, "name", "") or "",
                             pin=data.get("pin") or "", checked=data.get("checked"), details={"note": data["note"]} if data["note"] else None)
        return Response({"id": proof.id, "kind": proof.kind, "verified": proof.verified, "source": proof.source,
                         "content_type": proof.content_type, "size": proof.size, "received_at": proof.received_at,
                         "missing": missing_proof(order)}, status=201)


class VehiclePositions(APIView):
    @extend_schema(request=s.PingBatchSerializer, responses={202: dict})
    def post(self, request):
        """A batch of telematics pings. Late pings are stored but never move a vehicle backwards."""
        data = valid(s.PingBatchSerializer, request.data)
        result = positions_ingest(organization_id=organization_id_of(request), pings=data["pings"])
        return Response(result, status=202)


class VehicleList(generics.ListAPIView):
    serializer_class = s.VehicleSerializer

    def get_queryset(self):
        return selectors.vehicles_for(organization_id=organization_id_of(self.request))


class VehicleStatus(APIView):
    @extend_schema(request=s.DutyStatusSerializer, responses=s.VehicleSerializer)
    def post(self, request, code):
        data = valid(s.DutyStatusSerializer, request.data)
        vehicle = selectors.vehicle_get(organization_id=organization_id_of(request), code=code)
        vehicle = vehicle_set_status(vehicle_id=vehicle.id, status=data["status"], actor=actor_of(request), reason=data["reason"])
        return Response(s.VehicleSerializer(vehicle).data)


class DriverStatus(APIView):
    @extend_schema(request=s.DutyStatusSerializer, responses=dict)
    def post(self, request, code):
        data = valid(s.DutyStatusSerializer, request.data)
        driver = selectors.driver_get(organization_id=organization_id_of(request), code=code)
        driver = driver_set_status(driver_id=driver.id, status=data["status"], actor=actor_of(request), reason=data["reason"])
        return Response({"code": driver.code, "status": driver.status})


class CarrierEvents(APIView):
    @extend_schema(request=s.CarrierEventBatchSerializer, responses={202: dict})
    def post(self, request):
        """Status updates for orders booked with carriers. Each event id is applied once."""
        data = valid(s.CarrierEventBatchSerializer, request.data)
        result = carrier_events_apply(organization_id=organization_id_of(request), events=data["events"])
        return Response(result, status=202)


class CarrierAvailability(APIView):
    @extend_schema(request=s.CarrierAvailabilitySerializer, responses=dict)
    def post(self, request, code):
        """A carrier's health (up, degraded, down) and the capacity it reports per zone and window."""
        data = valid(s.CarrierAvailabilitySerializer, request.data)
        carrier = selectors.carrier_get(organization_id=organization_id_of(request), code=code)
        actor = actor_of(request)
        if "health" in data:
            carrier = carrier_set_health(carrier_id=carrier.id, health=data["health"], reason=data["reason"], actor=actor)
        slots = carrier_report_capacity(carrier_id=carrier.id, slots=data.get("capacity", []), actor=actor) if data.get("capacity") else 0
        return Response({"carrier": carrier.code, "health": carrier.health, "capacity_slots": slots})


class VehicleManifest(APIView):
    @extend_schema(responses=dict)
    def get(self, request, code):
        """The vehicle's remaining stops in driving order (what the driver app shows)."""
        vehicle = selectors.vehicle_get(organization_id=organization_id_of(request), code=code)
        return Response({"vehicle": vehicle.code, "status": vehicle.status, "stops": selectors.manifest_for(vehicle=vehicle)})


class ExceptionList(APIView):
    @extend_schema(responses=s.ExceptionSerializer(many=True))
    def get(self, request):
        """Live exceptions (open or with a proposed decision), newest first."""
        return Response(s.ExceptionSerializer(selectors.exceptions_live(organization_id=organization_id_of(request)), many=True).data)


class DecisionApprove(APIView):
    permission_classes = [CanDecide]

    @extend_schema(request=s.DecisionActionSerializer, responses=s.DecisionSerializer)
    def post(self, request, pk):
        data = valid(s.DecisionActionSerializer, request.data)
        decision = selectors.decision_get(organization_id=organization_id_of(request), decision_id=pk)
        decision = decision_approve(decision_id=decision.id, version=data["version"], actor=actor_of(request),
                                    orders=data.get("orders"), note=data["note"])
        return Response(s.DecisionSerializer(decision).data)


class DecisionReject(APIView):
    permission_classes = [CanDecide]

    @extend_schema(request=s.DecisionActionSerializer, responses=s.DecisionSerializer)
    def post(self, request, pk):
        data = valid(s.DecisionActionSerializer, request.data)
        decision = selectors.decision_get(organization_id=organization_id_of(request), decision_id=pk)
        decision = decision_reject(decision_id=decision.id, version=data["version"], actor=actor_of(request), note=data["note"])
        return Response(s.DecisionSerializer(decision).data)


class DecisionOverride(APIView):
    permission_classes = [CanDecide]

    @extend_schema(request=s.DecisionOverrideSerializer, responses=s.DecisionSerializer)
    def post(self, request, pk):
        data = valid(s.DecisionOverrideSerializer, request.data)
        decision = selectors.decision_get(organization_id=organization_id_of(request), decision_id=pk)
        decision = decision_override(decision_id=decision.id, version=data["version"], actor=actor_of(request), order=data["order"],
                                     to_kind=data["to_kind"], to_code=data["to_code"], reason_code=data["reason_code"], note=data["note"])
        return Response(s.DecisionSerializer(decision).data)


class CarrierList(APIView):
    @extend_schema(responses=s.CarrierSerializer(many=True))
    def get(self, request):

        return Response(s.CarrierSerializer(Carrier.objects.filter(organization_id=organization_id_of(request)).order_by("code"), many=True).data)


class WebhookSubscriptions(APIView):
    @extend_schema(responses=s.WebhookSubscriptionSerializer(many=True))
    def get(self, request):

        subs = WebhookSubscription.objects.filter(organization_id=organization_id_of(request)).exclude(style="onfleet").order_by("id")
        return Response(s.WebhookSubscriptionSerializer(subs, many=True).data)

    @extend_schema(request=s.WebhookSubscriptionSerializer, responses={201: s.WebhookSubscriptionSerializer})
    def post(self, request):

        data = valid(s.WebhookSubscriptionSerializer, request.data)
        sub = WebhookSubscription.objects.create(organization_id=organization_id_of(request), **data)
        return Response(s.WebhookSubscriptionSerializer(sub).data, status=201)


class WebhookDeliveries(generics.ListAPIView):
    serializer_class = s.WebhookDeliverySerializer

    def get_queryset(self):

        return (WebhookDelivery.objects.filter(subscription__organization_id=organization_id_of(self.request))
                .prefetch_related("attempt_log").order_by("-id"))


class WebhookRedeliver(APIView):
    @extend_schema(request=None, responses=s.WebhookDeliverySerializer)
    def post(self, request, pk):
        """Send this delivery again now, whatever happened before; the attempt is logged as manual."""


        delivery = get_object_or_404(WebhookDelivery, pk=pk, subscription__organization_id=organization_id_of(request))
        redeliver(delivery_id=delivery.id)
        delivery.refresh_from_db()
        return Response(s.WebhookDeliverySerializer(delivery).data)
