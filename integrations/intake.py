"""The rules the API holds one order to, for orders that arrive in another shape (a shop's, an
Onfleet task): the data in the order service's shape, checked field by field."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from dispatch import clock
from dispatch.errors import ValidationFailed


def order_check(data: dict, warnings: list[str], new: bool = True) -> None:
    """ValidationFailed names each field that does not fit; an e-mail address that cannot be
    written to is dropped with a warning, not a refusal (the shop or the integrator took it)."""
    errors: dict[str, list[str]] = {}
    if not (-90 <= data["lat"] <= 90 and -180 <= data["lon"] <= 180) or (data["lat"], data["lon"]) == (0, 0):
        errors["lat"] = [f"({data['lat']}, {data['lon']}) are not coordinates of an address."]
    if not 0 <= data["weight_kg"] <= 5000:
        errors["weight_kg"] = [f"{data['weight_kg']} kg: an order weighs 0 to 5,000 kg."]
    if data["window_end"] <= data["window_start"]:
        errors["window_end"] = ["The delivery window ends before it starts."]
    elif new and data["window_end"] < clock.now():
        errors["window_end"] = ["The delivery window is over already."]
    if not (data.get("address") or "").strip():
        errors["address"] = ["The address is empty."]
    if data.get("customer_email"):
        try:
            validate_email(data["customer_email"])
        except ValidationError:
            warnings.append(f"The e-mail address {data['customer_email'][:60]!r} cannot be written to: left out.")
            data["customer_email"] = ""
    if errors:
        raise ValidationFailed("The order does not fit an order of ours", errors=errors)
