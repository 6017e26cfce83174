"""Proof of delivery: what an order requires (its service level's rule and its own), what arrived
(from a driver app or a carrier), and what happens when a delivery lacks it."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import transaction

from dispatch.errors import ValidationFailed
from dispatch.models import Order, OrderException, ProofOfDelivery
from dispatch.selectors import required_proof
from dispatch.status import (
    PROOF_FILES,
    PROOF_MAX_BYTES,
    ExceptionKind,
    ExceptionState,
    OrderStatus,
    ProofKind,
    Severity,
)

from . import ActorRef
from .exceptions import exception_close, exception_raise
from .log import event_record
from .settlement import mark_dirty

# The first bytes of each file type a proof may be.
MAGIC = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",), "image/webp": (b"RIFF",),
         "image/svg+xml": (b"<svg", b"<?xml")}


def missing_proof(order: Order, rules: dict | None = None) -> list[str]:
    have = set(ProofOfDelivery.objects.filter(order=order, verified=True).values_list("kind", flat=True))
    return [k for k in required_proof(order, rules) if k not in have]


def _check_file(kind: str, content_type: str, data: bytes) -> None:
    allowed = PROOF_FILES.get(kind, ())
    if content_type not in allowed:
        raise ValidationFailed("Unsupported file", errors={"file": [f"A {kind} must be one of {', '.join(allowed)}."]})
    if len(data) > PROOF_MAX_BYTES:
        raise ValidationFailed("File too large", errors={"file": [f"At most {PROOF_MAX_BYTES // 1000} kB."]})
    if not data:
        raise ValidationFailed("Empty file", errors={"file": ["The file is empty."]})
    if not any(data.lstrip()[: len(m)] == m for m in MAGIC[content_type]):
        raise ValidationFailed("Not that kind of file", errors={"file": [f"The file's contents are not {content_type}."]})


@transaction.atomic
def proof_record(*, order: Order, kind: str, source: str, actor: ActorRef, content_type: str = "", data: bytes = b"",
                 filename: str = "", pin: str = "", checked: bool | None = None, details: dict | None = None,
                 raise_on_mismatch: bool = True, verified: bool = True) -> ProofOfDelivery:
    """Store one proof. A photo or signature is a checked file; a PIN is compared with the order's (a
    wrong PIN is kept, unverified, and refused); an age check is recorded as passed or not. A file
    with verified=False (a failed attempt's photo) is kept but proves no delivery."""
    if kind not in ProofKind.values:
        raise ValidationFailed("Unknown proof", errors={"kind": [f"Use one of {', '.join(ProofKind.values)}."]})
    proof = ProofOfDelivery(order=order, kind=kind, source=source[:60], data=details or {})
    if kind in PROOF_FILES:
        _check_file(kind, content_type, data)
        proof.content_type, proof.size = content_type, len(data)
        proof.file.save(filename or f"{kind}.bin", ContentFile(data), save=False)
        proof.verified = verified
    elif kind == ProofKind.PIN:
        given = (pin or "").strip()
        if not given:
            raise ValidationFailed("PIN missing", errors={"pin": ["Give the PIN the customer told the driver."]})
        proof.verified = given == order.delivery_pin
        proof.data = {**proof.data, "matched": proof.verified}
    elif kind == ProofKind.AGE_CHECK:
        if checked is None:
            raise ValidationFailed("Age check result missing", errors={"checked": ["Say whether the recipient's age was verified."]})
        proof.verified = bool(checked)
    proof.save()
    event_record(organization_id=order.organization_id, kind="order.proof", actor=actor, order=order,
                 data={"kind": kind, "verified": proof.verified, "source": source})
    if kind == ProofKind.PIN and not proof.verified and raise_on_mismatch:
        raise ValidationFailed("The PIN does not match", errors={"pin": ["That is not this order's PIN; ask the customer again."]})
    if order.status == OrderStatus.DELIVERED and order.proof_missing and not missing_proof(order):
        Order.objects.filter(pk=order.pk).update(proof_missing=False)
        order.proof_missing = False
        mark_dirty(order.organization_id, order.service_date)
        for exc in OrderException.objects.filter(organization_id=order.organization_id, cause_key=f"proof:{order.pk}",
                                                 state__in=[ExceptionState.OPEN, ExceptionState.PROPOSED]):
            exception_close(exception_id=exc.id, state=ExceptionState.RESOLVED, actor=actor, note="the proof arrived")
    return proof


def check_on_delivery(order: Order) -> None:
    """At delivery (before the order is saved): mark it and raise an exception if required proof is missing."""
    missing = missing_proof(order)
    order.proof_missing = bool(missing)
    if missing:
        exception_raise(organization_id=order.organization_id, kind=ExceptionKind.MISSING_PROOF, cause_key=f"proof:{order.pk}",
                        title=f"{order.external_ref} delivered without {', '.join(missing)}", severity=Severity.MEDIUM,
                        cause=f"Its service level or the order requires {', '.join(required_proof(order))}; missing: {', '.join(missing)}.",
                        order_ids=[order.pk], vehicle=order.vehicle, carrier=order.carrier, propose=False)
