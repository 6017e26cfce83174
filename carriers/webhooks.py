"""Inbound carrier webhooks: verify on the raw body, deduplicate on the carrier's event id, keep
the raw payload, answer fast, and process in a task."""

from __future__ import annotations

import json

from django.db import IntegrityError, transaction

from dispatch import ports
from dispatch.errors import DomainError

from .adapters import CarrierError, adapter_for
from .canonical import MalformedPayload, UnknownStatus
from .models import Carrier, CarrierAlert, WebhookReceipt
from .services import carrier_event_apply
from .signing import HEADER, SignatureError, verify

KEPT_HEADERS = (HEADER, "Content-Type", "User-Agent")


def webhook_receive(*, carrier: Carrier, raw: bytes, headers) -> tuple[int, dict]:
    """(HTTP status, body). Nothing is stored or enqueued unless the webhook is authentic and readable."""
    secrets = [s for s in (carrier.config or {}).get("webhook_secrets", []) if s]
    if not secrets:
        return 401, {"error": "no_secret", "message": "No webhook secret is configured for this carrier yet"}
    try:
        verify(raw, headers.get(HEADER), secrets)
    except SignatureError as exc:
        return exc.status, {"error": "bad_signature", "message": str(exc)}
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        event_id = adapter_for(carrier).webhook_event_id(body=body)
    except (ValueError, MalformedPayload) as exc:
        return 400, {"error": "malformed", "message": f"Unreadable webhook: {exc}"}
    except CarrierError as exc:
        return 400, {"error": exc.code, "message": str(exc)}
    try:
        with transaction.atomic():
            receipt = WebhookReceipt.objects.create(carrier=carrier, event_id=event_id, raw_body=raw.decode("utf-8", "replace"),
                                                    headers={k: headers.get(k) for k in KEPT_HEADERS if headers.get(k)})
    except IntegrityError:
        return 200, {"duplicate": True, "event_id": event_id}
    ports.PROCESS_WEBHOOK.start(receipt.id)
    return 202, {"accepted": event_id}


def webhook_process(*, receipt_id: int) -> str:

    with transaction.atomic():
        receipt = WebhookReceipt.objects.select_for_update().select_related("carrier").get(pk=receipt_id)
        if receipt.status == "processed":
            return receipt.status
        receipt.attempts += 1
        carrier = receipt.carrier
        try:
            events = adapter_for(carrier).parse_webhook(body=json.loads(receipt.raw_body))
        except UnknownStatus as exc:
            CarrierAlert.objects.create(carrier=carrier, kind=f"unknown_{exc.kind}", message=str(exc)[:300],
                                        payload={"receipt": receipt.id, "code": exc.code})
            receipt.status, receipt.result = "needs_mapping", {"error": str(exc)}
            receipt.save()
            return receipt.status
        results = []
        for e in events:
            try:
                with transaction.atomic():
                    r = carrier_event_apply(organization_id=carrier.organization_id, carrier=carrier, event_id=e.event_id,
                                            order_ref=e.order_ref, status=e.status, failure_reason=e.failure_reason,
                                            occurred_at=e.occurred_at, promised_at=e.eta, proof=e.proof)
            except DomainError as exc:
                r = {"ignored": exc.message}
            results.append({"event": e.event_id, "status": e.status, **r})
        receipt.status, receipt.result = "processed", {"events": results}
        receipt.save()
        return receipt.status


def webhook_reprocess_for(*, carrier: Carrier) -> int:
    """After an admin fixed a mapping: process the webhooks that waited for it. Their alerts are
    settled; one whose code is still unmapped waits again, with a new alert."""
    ids = list(WebhookReceipt.objects.filter(carrier=carrier, status="needs_mapping").values_list("id", flat=True))
    WebhookReceipt.objects.filter(id__in=ids).update(status="pending")
    CarrierAlert.objects.filter(carrier=carrier, resolved=False, kind__startswith="unknown_").update(resolved=True)
    for i in ids:
        ports.PROCESS_WEBHOOK.start(i)
    return len(ids)
