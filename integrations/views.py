"""The shops' webhook endpoint: thin (find the store, bound the body, hand the raw bytes to the
service, which verifies, deduplicates and stores before answering)."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import ShopConnection
from .shops.service import shop_webhook_receive


@csrf_exempt
@require_POST
def shop_webhook(request, org_slug: str, shop: int):
    connection = ShopConnection.objects.select_related("hub").filter(organization__slug=org_slug, pk=shop).first()
    if connection is None:
        return JsonResponse({"error": "not_found", "message": "No such store is connected."}, status=404)
    if int(request.META.get("CONTENT_LENGTH") or 0) > settings.SHOP_WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "payload_too_large", "message": f"At most {settings.SHOP_WEBHOOK_MAX_BYTES} bytes"}, status=413)
    status, body = shop_webhook_receive(connection=connection, raw=request.body, headers=request.headers)
    return JsonResponse(body, status=status)
