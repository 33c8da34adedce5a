"""Settings > Embedding: the sites that may show the workspace's booking pages in an iframe."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from yoyaku.accounts.embedding import BadOrigins, NotAnAdmin, set_embed_origins
from yoyaku.accounts.models import WorkspaceRole
from yoyaku.web.host import host_user


@login_required
@require_http_methods(["GET", "POST"])
def embedding(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    is_admin = user.workspace_role == WorkspaceRole.ADMIN
    text = "\n".join(user.workspace.embed_origins)
    error = ""
    status = 200
    if request.method == "POST":
        text = request.POST.get("origins", "")
        try:
            set_embed_origins(actor=user, text=text)
        except NotAnAdmin as refused:
            error, status = str(refused), 403
        except BadOrigins as bad:
            error, status = bad.message, 422
        else:
            messages.success(request, gettext("The list of sites is saved."))
            return redirect("settings-embedding")
    context = {
        "section": "settings",
        "tab": "embedding",
        "is_admin": is_admin,
        "origins_text": text,
        "origins": user.workspace.embed_origins,
        "error": error,
        "script_url": request.build_absolute_uri(static("web/embed.js")),
    }
    return render(request, "web/settings_embedding.html", context, status=status)
