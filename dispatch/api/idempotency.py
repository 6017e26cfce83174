"""Idempotency-Key handling: the same key and body replay the first response; the same key with
a different body is a 409."""

from __future__ import annotations

import hashlib
import json
from typing import Callable

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from dispatch.errors import IdempotencyConflict, ValidationFailed
from dispatch.models import IdempotencyRecord

MAX_KEY_LENGTH = 200


def _hash(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _replay(record: IdempotencyRecord, body_hash: str) -> Response:
    if record.request_hash != body_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body. Use a new key for a new request.",
            field="Idempotency-Key",
        )
    return Response(record.response, status=record.status_code, headers={"Idempotent-Replayed": "true"})


def idempotent(request, *, organization_id: int, endpoint: str, handler: Callable[[], Response]) -> Response:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return handler()
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed("Bad Idempotency-Key", errors={"Idempotency-Key": [f"Give 1 to {MAX_KEY_LENGTH} characters."]})
    body_hash = _hash(request.data)
    found = IdempotencyRecord.objects.filter(organization_id=organization_id, endpoint=endpoint, key=key).first()
    if found:
        return _replay(found, body_hash)
    try:
        with transaction.atomic():
            response = handler()
            if 200 <= response.status_code < 300:
                IdempotencyRecord.objects.create(
                    organization_id=organization_id, endpoint=endpoint, key=key, request_hash=body_hash,
                    status_code=response.status_code, response=json.loads(json.dumps(response.data, default=str)),
                )
    except IntegrityError:
        # A concurrent request with the same key won the race; answer as it did.
        found = IdempotencyRecord.objects.filter(organization_id=organization_id, endpoint=endpoint, key=key).first()
        if found is None:
            raise
        return _replay(found, body_hash)
    return response
