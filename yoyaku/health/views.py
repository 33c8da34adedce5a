"""Probes for load balancers and orchestrators: /healthz (the process answers) and /readyz (it can
serve: database, cache, task queue and a background worker). Both are exempt from the HTTPS redirect
(SECURE_REDIRECT_EXEMPT) so a load balancer can probe over plain http."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from huey.contrib.djhuey import HUEY

from yoyaku.health.selectors import readiness


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    # Touches nothing outside the process: a database outage must not get healthy processes restarted.
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness(queue=HUEY, now=timezone.now())
    failed = [c.name for c in checks if not c.ok]
    return JsonResponse(
        {
            "status": "unavailable" if failed else "ok",
            "failed": failed,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        },
        status=503 if failed else 200,
    )
