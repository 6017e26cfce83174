from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import Carrier
from .webhooks import webhook_receive

MAX_WEBHOOK_BYTES = 256 * 1024


@csrf_exempt
@require_POST
def carrier_webhook(request, org_slug: str, code: str):
    carrier = Carrier.objects.filter(organization__slug=org_slug, code=code).first()
    if carrier is None:
        return JsonResponse({"error": "not_found", "message": "No such carrier"}, status=404)
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"error": "payload_too_large", "message": f"At most {MAX_WEBHOOK_BYTES} bytes"}, status=413)
    status, body = webhook_receive(carrier=carrier, raw=request.body, headers=request.headers)
    return JsonResponse(body, status=status)
