"""The scheduling page editor: list, create, edit, duplicate, switch off or on, delete, and preview.

Thin views: the forms parse (``yoyaku.web.page_forms``), ``yoyaku.scheduling.host_services``
decides and writes (the same functions the API's create and update use), and
``yoyaku.web.page_selectors`` reads. A POST with ``check=1`` runs every check and saves nothing:
the editor's script sends it while the host types and shows the server's answers by the fields.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from yoyaku.accounts.models import User
from yoyaku.scheduling.host_services import (
    LinkConflict,
    check_link,
    create_link,
    delete_link,
    duplicate_link,
    set_link_active,
    update_link,
)
from yoyaku.scheduling.models import LinkKind, MeetingLink
from yoyaku.scheduling.validation import BookingInputError
from yoyaku.web import page_selectors
from yoyaku.web.host import host_user, in_user_zone
from yoyaku.web.page_forms import (
    PageForm,
    QuestionFormSet,
    page_initial,
    questions_from,
    questions_initial,
)

# Service error keys that name something other than a form field of the same name.
_FIELD_OF = {"host_usernames": "co_hosts"}


def _own(user: User, slug: str) -> MeetingLink:
    link = page_selectors.own_link(user=user, slug=slug)
    if link is None:
        raise Http404
    return link


def embed_snippet(request: HttpRequest, link: MeetingLink) -> str:
    page = request.build_absolute_uri(reverse("booking-page", args=[link.slug]))
    script = request.build_absolute_uri(static("web/embed.js"))
    # The snippet is shown as text for the host to copy, so it is built escaped (a page name
    # with quotes or markup must not break the host's own site).
    return str(
        format_html(
            '<iframe src="{}" title="{}" data-yoyaku-embed '
            'style="width:100%;min-height:640px;border:0" loading="lazy"></iframe>\n'
            '<script src="{}" async></script>',
            page,
            link.name,
            script,
        )
    )


@login_required
@require_GET
def pages(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    context = {"section": "pages", "links": list(page_selectors.own_links(user=user))}
    return render(request, "web/pages.html", context)


def _host_usernames(user: User, form: PageForm) -> list[str]:
    if form.cleaned_data["kind"] == LinkKind.ONE_ON_ONE:
        return [user.username]
    return [user.username, *form.cleaned_data["co_hosts"]]


def _service_errors(form: PageForm, error: BookingInputError | LinkConflict) -> dict[str, str]:
    """Put the services' answers by the fields they are about; returns the ones for the questions."""
    if isinstance(error, LinkConflict):
        form.add_error("slug", str(error))
        return {}
    rest: dict[str, str] = {}
    horizon = form.cleaned_data.get("horizon")
    for key, message in error.errors.items():
        field = _FIELD_OF.get(key, key)
        if field == "rolling_weeks" and horizon == "days":
            field = "rolling_days"
        if field == "form_fields":
            rest[field] = message
        elif field in form.fields:
            form.add_error(field, message)
        else:
            form.add_error(None, message)
    return rest


def _editor(request: HttpRequest, link: MeetingLink | None) -> HttpResponse:
    user = host_user(request)
    choices = page_selectors.co_host_choices(user=user)
    editing = link is not None
    if request.method == "POST":
        form = PageForm(request.POST, co_host_choices=choices, editing=editing, initial=page_initial(link))
        questions = QuestionFormSet(request.POST, prefix="q")
    else:
        form = PageForm(initial=page_initial(link), co_host_choices=choices, editing=editing)
        questions = QuestionFormSet(initial=questions_initial(link), prefix="q")
    question_error = ""
    preview_html = ""
    checking = request.POST.get("check") == "1"
    if request.method == "POST" and form.is_valid() & questions.is_valid():
        fields = form.link_fields()
        fields["form_fields"] = questions_from(questions)
        hosts = _host_usernames(user, form)
        slug = form.cleaned_data["slug"]
        try:
            # Checked before anything is written: a refused edit leaves ``link`` as stored, so the
            # page shown again (and its preview) is the saved one.
            check_link(owner=user, link=link, slug=slug, host_usernames=hosts, **fields)
            if checking:
                draft = link

                def write() -> MeetingLink:
                    if draft is None:
                        return create_link(owner=user, slug=slug, host_usernames=hosts, **fields)
                    return update_link(link=draft, host_usernames=hosts, **fields)

                with in_user_zone(user):
                    preview = page_selectors.draft_preview(viewer=user, now=timezone.now(), write=write)
                    preview_html = render_to_string(
                        "web/preview_slots.html", {"preview": preview, "draft": True}, request=request
                    )
            elif link is None:
                link = create_link(owner=user, slug=slug, host_usernames=hosts, **fields)
            else:
                link = update_link(link=link, host_usernames=hosts, **fields)
        except (BookingInputError, LinkConflict) as error:
            question_error = _service_errors(form, error).get("form_fields", "")
        else:
            if not checking and link is not None:
                messages.success(request, gettext("“%(page)s” is saved.") % {"page": link.name})
                return redirect("page-edit", slug=link.slug)
    elif request.method == "POST" and questions.non_form_errors():
        question_error = " ".join(str(e) for e in questions.non_form_errors())
    if checking:
        errors = {name: " ".join(str(e) for e in errs) for name, errs in form.errors.items()}
        for index, qform in enumerate(questions.forms):
            for name, errs in qform.errors.items():
                errors[f"q-{index}-{name}"] = " ".join(str(e) for e in errs)
        if question_error:
            errors["form_fields"] = question_error
        return JsonResponse({"errors": errors, "preview": "" if errors else preview_html})
    context: dict[str, Any] = {
        "section": "pages",
        "form": form,
        "questions": questions,
        "question_error": question_error,
        "link": link,
        "status": 422 if request.method == "POST" else 200,
    }
    if link is not None and link.pk:
        with in_user_zone(user):
            context["preview"] = page_selectors.week_preview(link=link, viewer=user, now=timezone.now())
        context["page_url"] = request.build_absolute_uri(reverse("booking-page", args=[link.slug]))
        context["embed_snippet"] = embed_snippet(request, link)
    with in_user_zone(user):
        return render(request, "web/page_edit.html", context, status=context["status"])


@login_required
@require_http_methods(["GET", "POST"])
def page_new(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def page_edit(request: HttpRequest, slug: str) -> HttpResponse:
    return _editor(request, _own(host_user(request), slug))


@login_required
@require_POST
def page_duplicate(request: HttpRequest, slug: str) -> HttpResponse:
    link = _own(host_user(request), slug)
    try:
        copy = duplicate_link(link=link)
    except (BookingInputError, LinkConflict) as error:
        reasons = " ".join(error.errors.values()) if isinstance(error, BookingInputError) else str(error)
        messages.error(request, gettext("The page was not copied. %(reason)s") % {"reason": reasons})
        return redirect("pages")
    messages.success(
        request,
        gettext("This is a copy of “%(page)s”. It takes no bookings until you switch it on.")
        % {"page": link.name},
    )
    return redirect("page-edit", slug=copy.slug)


@login_required
@require_POST
def page_active(request: HttpRequest, slug: str) -> HttpResponse:
    link = _own(host_user(request), slug)
    turn_on = request.POST.get("active") == "1"
    try:
        set_link_active(link=link, active=turn_on)
    except BookingInputError as error:
        reasons = " ".join(error.errors.values())
        messages.error(request, gettext("The page was not switched on. %(reason)s") % {"reason": reasons})
    else:
        if turn_on:
            messages.success(request, gettext("“%(page)s” takes bookings.") % {"page": link.name})
        else:
            messages.success(request, gettext("“%(page)s” is switched off.") % {"page": link.name})
    return redirect("pages")


@login_required
@require_POST
def page_delete(request: HttpRequest, slug: str) -> HttpResponse:
    link = _own(host_user(request), slug)
    name = link.name
    delete_link(link=link)
    if MeetingLink.objects.filter(pk=link.pk).exists():
        messages.success(
            request,
            gettext("“%(page)s” has meetings, so it was switched off instead of deleted.") % {"page": name},
        )
    else:
        messages.success(request, gettext("“%(page)s” is deleted.") % {"page": name})
    return redirect("pages")
