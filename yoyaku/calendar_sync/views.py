"""Webhook endpoints the providers call when a calendar changes; each only queues a sync."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from yoyaku.calendar_sync import push
from yoyaku.calendars.microsoft import validation_token

# Graph's notification bodies are small; anything larger is not one.
MAX_BODY = 1024 * 1024


@csrf_exempt
@require_POST
def google_push(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=push.google_notification(headers=request.headers))


@csrf_exempt
@require_POST
def microsoft_push(request: HttpRequest) -> HttpResponse:
    token = validation_token(request.GET)
    if token is not None:
        # Graph checks the address by asking for its token back, as plain text, within 10 s.
        return HttpResponse(token, content_type="text/plain; charset=utf-8")
    if len(request.body) > MAX_BODY:
        return HttpResponse(status=413)
    return HttpResponse(status=push.microsoft_notification(body=request.body))
