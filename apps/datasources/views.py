from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from csp.decorators import csp_replace
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.generic import DetailView, ListView
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.core.public import absolute_url
from apps.datasources.connection_test import NOT_REACHED, connection_test
from apps.datasources.connections import token_state_get
from apps.datasources.event_settings import EventsInput, new_signature_key
from apps.datasources.forms import ConfigureForm, CreateForm, DeleteConfirmForm
from apps.datasources.inputs import datasource_input
from apps.datasources.models import AuditAction, DataSource, TokenState
from apps.datasources.oauth import OAuthFlowError, oauth_begin, oauth_complete
from apps.datasources.panels import detail_panels
from apps.datasources.representation import event_secrets_set, secrets_set
from apps.datasources.selectors import (
    DRAFT,
    HISTORY_FILTERS,
    HISTORY_PAGE_SIZE,
    attached_to,
    history_of,
    history_row,
    is_draft,
    status_of,
    with_tested,
)
from apps.datasources.services import (
    audit_record,
    datasource_create,
    datasource_delete,
    datasource_draft_discard,
    datasource_draft_rename,
    datasource_inbound_rotate,
    datasource_preview,
    datasource_purge_cache,
    datasource_record_test,
    datasource_status_from_test,
    datasource_update,
    tested_settings_outcome,
    tested_settings_token,
)
from apps.outbound.auth import AuthorizationCodeAuth, get_mode
from apps.outbound.errors import OutboundError
from apps.tenants.scoping import TenantRequiredMixin, TenantScopedQuerysetMixin


def _detail_url(datasource: DataSource) -> str:
    return reverse("datasource-detail", args=[datasource.tenant.slug, datasource.pk])


WIZARD_STEPS = ("Type", "Name", "Connection")


def wizard_steps(current: int) -> dict[str, Any]:
    """The wizard's step indicator: "Step 2 of 3: Name", and each step's state."""
    return {
        "number": current,
        "total": len(WIZARD_STEPS),
        "label": WIZARD_STEPS[current - 1],
        "steps": [
            {
                "number": n,
                "label": label,
                "state": "done" if n < current else "current" if n == current else "todo",
            }
            for n, label in enumerate(WIZARD_STEPS, start=1)
        ],
    }


class DataSourceListView(TenantRequiredMixin, TenantScopedQuerysetMixin, ListView):
    model = DataSource
    template_name = "datasources/list.html"
    paginate_by = 25

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        q = self.request.GET.get("q", "").strip()
        if q:
            queryset = queryset.filter(
                Q(name__icontains=q) | Q(slug__icontains=q) | Q(base_url__icontains=q)
            )
        return with_tested(queryset).order_by("name", "pk")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(
            title="Data sources", q=self.request.GET.get("q", "").strip(), **kwargs
        )
        context["rows"] = [
            (ds, status_of(ds, ever_tested=ds.ever_tested)) for ds in context["object_list"]
        ]
        return context


class DataSourceCreateView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """The wizard's first steps: choose the type (REST API) → Next → name → Create. Back from
    the connection step (the data source exists then, as a draft) comes here with ``draft``:
    the steps then edit that draft rather than create another."""

    model = DataSource
    write_required = True

    def _draft(self, request: HttpRequest) -> DataSource | None:
        pk = request.POST.get("draft") or request.GET.get("draft")
        try:
            uuid.UUID(str(pk))
        except ValueError:
            return None
        return self.get_queryset().filter(DRAFT, pk=pk).first()

    def _render(self, request: HttpRequest, step: str, *, draft: DataSource | None = None,
                form: CreateForm | None = None, error: str = "", status: int = 200,
                ) -> HttpResponse:  # fmt: skip
        return render(
            request,
            "datasources/new.html",
            {"title": "Create data source", "step": step, "draft": draft, "form": form,
             "error": error, "wizard": wizard_steps(1 if step == "type" else 2)},
            status=status,
        )  # fmt: skip

    def get(self, request: HttpRequest, tenant: str) -> HttpResponse:
        draft = self._draft(request)
        if draft is not None and request.GET.get("step") == "name":
            return self._render(
                request, "name", draft=draft, form=CreateForm(initial={"name": draft.name})
            )
        return self._render(request, "type", draft=draft)

    def post(self, request: HttpRequest, tenant: str) -> HttpResponse:
        draft = self._draft(request)
        if request.POST.get("type") != "rest":
            return self._render(request, "type", draft=draft, error="Choose a type.", status=400)
        if "name" not in request.POST:
            initial = {"name": draft.name} if draft is not None else None
            return self._render(request, "name", draft=draft, form=CreateForm(initial=initial))
        form = CreateForm(request.POST)
        if form.is_valid():
            name = form.cleaned_data["name"]
            try:
                if draft is not None:
                    datasource = datasource_draft_rename(
                        datasource=draft, actor=request.user, name=name
                    )
                else:
                    datasource = datasource_create(
                        tenant=request.tenant, actor=request.user, name=name
                    )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("name", message)
            else:
                messages.success(
                    request, f"“{datasource.name}” created. Now configure its connection."
                )
                return HttpResponseRedirect(
                    reverse("datasource-configure", args=[tenant, datasource.pk])
                )
        return self._render(request, "name", draft=draft, form=form, status=400)


def _history_url(kind: str, page: int | None = None) -> str:
    query = {key: value for key, value in (("history", kind), ("history_page", page)) if value}
    return ("?" + urlencode(query) if query else "?") + "#audit-log"


# "Connect" and "Save and connect" answer a form with a redirect to the OAuth provider's
# consent page, and Chromium holds a form's redirects to the page's form-action too: the pages
# with such a form let forms go to https: as well (the provider's URL may be typed on the page
# itself). Every other page keeps form-action 'self'.
consent_form_action = csp_replace({"form-action": ["'self'", "https:"]})


class DataSourceDetailView(TenantRequiredMixin, TenantScopedQuerysetMixin, DetailView):
    model = DataSource
    template_name = "datasources/detail.html"

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        render = super().render_to_response
        if self.object.auth_mode == AuthorizationCodeAuth.name:  # its page has "Connect"
            render = consent_form_action(render)
        return render(context, **kwargs)

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return with_tested(queryset)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ds = self.object
        state = token_state_get(datasource_id=ds.pk)
        kind = self.request.GET.get("history", "")
        kind = kind if kind in HISTORY_FILTERS else ""
        history = Paginator(history_of(ds, kind=kind), HISTORY_PAGE_SIZE).get_page(
            self.request.GET.get("history_page")
        )
        return super().get_context_data(
            title=ds.name,
            status=status_of(ds, ever_tested=ds.ever_tested),
            draft=is_draft(ds),
            auth_description=get_mode(ds.auth_mode).describe(ds.auth_config or {}),
            secrets_set=secrets_set(ds),
            token_state=state,
            connected=bool(state and (state.access_token or state.refresh_token)),
            callback_url=absolute_url(reverse("oauth-callback"), self.request),
            history=history,
            history_rows=[history_row(entry) for entry in history],
            history_kind=kind,
            history_filters=[
                {"kind": key, "label": label, "url": _history_url(key), "current": key == kind}
                for key, (label, _) in HISTORY_FILTERS.items()
            ],
            history_previous=_history_url(kind, history.previous_page_number())
            if history.has_previous() else None,
            history_next=_history_url(kind, history.next_page_number())
            if history.has_next() else None,
            panels=detail_panels(self.request, ds),
            **kwargs,
        )  # fmt: skip


@method_decorator(consent_form_action, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class DataSourceConfigureView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Server details, custom headers, authentication and test settings, on one page. For a
    draft (a new data source not configured yet) it is the wizard's last step."""

    model = DataSource
    write_required = True

    def _render(self, request: HttpRequest, form: ConfigureForm, status: int = 200) -> HttpResponse:
        ds = form.datasource
        draft = is_draft(ds)
        return render(
            request,
            "datasources/configure.html",
            {
                "title": f"Configure {ds.name}",
                "object": ds,
                "form": form,
                "draft": draft,
                "wizard": wizard_steps(3) if draft else None,
                "headers": form.headers_typed(),
                "callback_url": absolute_url(reverse("oauth-callback"), request),
                "connected": TokenState.objects.filter(datasource=ds).exists(),
                "event_secrets_set": event_secrets_set(ds),
            },
            status=status,
        )

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        return self._render(request, ConfigureForm(datasource=ds))

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        form = ConfigureForm(request.POST, datasource=ds)
        if form.is_valid():
            try:
                data = form.to_data()
                changes = datasource_input(data, auth_mode=ds.auth_mode, partial=True)
                # Saving exactly what "Test connection" just tested: its outcome is the status.
                tested = tested_settings_outcome(datasource=ds, data=data, actor=request.user,
                                                 token=request.POST.get("tested", ""))  # fmt: skip
                datasource_update(datasource=ds, actor=request.user, **changes)
            except (ValidationError, DRFValidationError) as exc:
                form.add_errors(exc)
            else:
                if tested is not None:
                    datasource_status_from_test(datasource=ds, tested=tested)
                messages.success(request, f"“{ds.name}” saved.")
                if request.POST.get("then") == "connect":
                    return _begin_oauth(request, ds)
                return HttpResponseRedirect(_detail_url(ds))
        # Everything typed comes back, except secrets (password inputs never render a value).
        return self._render(request, form, status=400)


def _shown_steps(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps, each marked skipped when the test never got to it (grey, not red)."""
    return [
        {**step, "skipped": not step["ok"] and step["detail"] == NOT_REACHED}
        for step in result.get("steps", [])
    ]


class DataSourceTestView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Test connection: with the configure page's unsaved values (POST body) or, from the
    detail page (no body), with the saved settings. Answers JSON: the API's result, each step
    marked ``skipped`` or not; for unsaved values a ``tested`` token (a save of exactly these
    values takes the outcome as its status); for the saved settings the new ``status`` and the
    ``history`` entry, which the page shows without a reload."""

    model = DataSource
    write_required = True

    def post(self, request: HttpRequest, tenant: str, pk: str) -> JsonResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        if "base_url" in request.POST:
            return self._unsaved(request, ds)
        result = connection_test(ds)
        entry = datasource_record_test(
            datasource=ds, ok=result["ok"], message=result["message"], actor=request.user,
            saved=True,
        )  # fmt: skip
        ds.refresh_from_db()
        status = status_of(ds, ever_tested=True)
        tested_at = ds.last_tested_at and timezone.localtime(ds.last_tested_at)
        status.update(
            last_error=ds.current_last_error,
            last_tested=f"Last tested {tested_at:%Y-%m-%d %H:%M}" if tested_at else "",
        )
        return JsonResponse({**result, "steps": _shown_steps(result), "status": status,
                             "history": history_row(entry)})  # fmt: skip

    def _unsaved(self, request: HttpRequest, ds: DataSource) -> JsonResponse:
        form = ConfigureForm(request.POST, datasource=ds)
        if not form.is_valid():
            return self._invalid(form)
        data = form.to_data()
        # The connection test does not involve the events settings; a problem with them is
        # reported when the page is saved, not here.
        data.pop("events", None)
        try:
            changes = datasource_input(data, auth_mode=ds.auth_mode, partial=True)
            target, tokens_usable = datasource_preview(datasource=ds, **changes)
        except (ValidationError, DRFValidationError) as exc:
            form.add_errors(exc)
            return self._invalid(form)
        result = connection_test(target, ephemeral_tokens=not tokens_usable)
        datasource_record_test(
            datasource=ds, ok=result["ok"], message=result["message"], actor=request.user,
            saved=False,
        )  # fmt: skip
        tested = tested_settings_token(datasource=ds, data=data, actor=request.user,
                                       ok=result["ok"], message=result["message"])  # fmt: skip
        return JsonResponse({**result, "steps": _shown_steps(result), "tested": tested})

    @staticmethod
    def _invalid(form: ConfigureForm) -> JsonResponse:
        fields = form.error_fields()
        others = [str(message) for message in form.non_field_errors()]
        if fields:
            labels = ", ".join(field["label"] for field in fields)
            message = (f"Nothing was tested. Correct the highlighted "
                       f"field{pluralize(len(fields))}: {labels}.")  # fmt: skip
        else:
            message = "Nothing was tested."
        message = " ".join([message, *others])
        errors = {key: [str(e) for e in value] for key, value in form.errors.items()}
        if form.header_errors:
            errors["headers"] = form.header_errors
        return JsonResponse(
            {"ok": False, "message": message, "errors": errors, "fields": fields, "steps": []},
            status=400,
        )


class DataSourceDeleteView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Deleting a data source deletes what other apps attached to it (connected items, events,
    bulk jobs): the page lists it, items by name, and asks for the data source's name when
    anything goes with it. (The API's DELETE deletes as the contract says.)"""

    model = DataSource
    write_required = True

    def _render(self, request: HttpRequest, ds: DataSource, groups: list, form: Any,
                status: int = 200) -> HttpResponse:  # fmt: skip
        attached = [group for group in groups if group.count]
        if form.errors:
            form.fields["confirm_name"].widget.attrs["autofocus"] = True
        return render(request, "datasources/delete.html", {
            "title": f"Delete {ds.name}", "object": ds, "attached": attached,
            "not_attached": [group for group in groups if not group.count],
            "form": form if attached else None,
        }, status=status)  # fmt: skip

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        return self._render(request, ds, attached_to(ds), DeleteConfirmForm(datasource=ds))

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        groups = attached_to(ds)
        attached = [group for group in groups if group.count]
        if attached:
            form = DeleteConfirmForm(request.POST, datasource=ds)
            if not form.is_valid():
                return self._render(request, ds, groups, form, status=400)
        name = ds.name
        datasource_delete(datasource=ds, actor=request.user)
        went = [f"{group.count} {group.noun}" for group in attached]
        went.append("its stored secrets and tokens")
        listed = went[0] if len(went) == 1 else ", ".join(went[:-1]) + " and " + went[-1]
        messages.success(request, f"“{name}” deleted, with {listed}.")
        return HttpResponseRedirect(reverse("datasource-list", args=[tenant]))


class DataSourceDiscardView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """The wizard's Cancel once the data source exists: GET asks, POST deletes the draft
    (only a draft that nothing uses; anything else goes through Delete)."""

    model = DataSource
    write_required = True

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        if not is_draft(ds) or any(group.count for group in attached_to(ds)):
            return HttpResponseRedirect(reverse("datasource-delete", args=[tenant, ds.pk]))
        return render(request, "datasources/discard.html", {
            "title": f"Cancel setting up {ds.name}", "object": ds, "wizard": wizard_steps(3),
        })  # fmt: skip

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        if datasource_draft_discard(datasource=ds, actor=request.user):
            messages.success(request, f"Setup cancelled: the draft “{ds.name}” was deleted.")
            return HttpResponseRedirect(reverse("datasource-list", args=[tenant]))
        messages.error(
            request,
            f"“{ds.name}” was kept: it is configured or in use now. Delete it from here if you "
            "no longer need it.",
        )
        return HttpResponseRedirect(_detail_url(ds))


class DataSourcePurgeView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    model = DataSource
    write_required = True

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        purged = datasource_purge_cache(datasource=ds, actor=request.user)
        messages.success(request, f"Cache purged: {purged} cached answers removed.")
        return HttpResponseRedirect(_detail_url(ds))


@method_decorator(never_cache, name="dispatch")
class SignatureKeyView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Generate the key deliveries are signed with. GET says what will happen; the POST stores a
    new key (audited) and answers with the one page that ever shows it: never in a URL, a
    redirect, a message or a log line, and never cached."""

    model = DataSource
    write_required = True

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        return render(request, "datasources/signature_key.html", {
            "title": f"Signature key of {ds.name}", "object": ds,
            "key_set": "signature_key" in event_secrets_set(ds),
        })  # fmt: skip

    @method_decorator(sensitive_variables("key"))
    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        key = new_signature_key()
        try:
            datasource_update(datasource=ds, actor=request.user,
                              events=EventsInput(secrets={"signature_key": key}))  # fmt: skip
        except ValidationError as exc:
            messages.error(request, "No key was generated: " + " ".join(exc.messages))
            return HttpResponseRedirect(
                reverse("datasource-configure", args=[tenant, ds.pk]) + "#section-events"
            )
        # Cache-Control: no-store (never_cache, above): no cache keeps this page.
        return render(request, "datasources/signature_key.html", {
            "title": f"Signature key of {ds.name}", "object": ds, "new_key": key,
        })  # fmt: skip


class InboundRotateView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """A new inbound URL: GET asks for confirmation (the old URL stops working), POST makes it."""

    model = DataSource
    write_required = True

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        return render(request, "datasources/inbound_rotate.html",
                      {"title": f"New inbound URL for {ds.name}", "object": ds})  # fmt: skip

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        datasource_inbound_rotate(datasource=ds, actor=request.user)
        # The URL is a credential: the message names no URL; the page shows the new one.
        messages.success(
            request,
            "A new inbound URL was made; the old one no longer accepts events. Give the new "
            "one to whoever sends them.",
        )
        return HttpResponseRedirect(_detail_url(ds) + "#events-panel")


@method_decorator(consent_form_action, name="dispatch")
class OAuthConnectView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Connecting an authorization-code data source: GET shows what will happen (this is the
    API's ``connect_url``, opened in a browser); the POST, with CSRF, starts the provider's
    consent flow."""

    model = DataSource
    write_required = True

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        datasource = get_object_or_404(self.get_queryset(), pk=pk)
        return render(
            request,
            "datasources/connect.html",
            {
                "title": f"Connect {datasource.name}",
                "object": datasource,
                "auth_description": get_mode(datasource.auth_mode).describe(
                    datasource.auth_config or {}
                ),
            },
        )

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        datasource = get_object_or_404(self.get_queryset(), pk=pk)
        return _begin_oauth(request, datasource)


def _begin_oauth(request: HttpRequest, datasource: DataSource) -> HttpResponse:
    """Redirect the browser to the provider's consent page (or back, with the reason)."""
    redirect_uri = absolute_url(reverse("oauth-callback"), request)
    try:
        url = oauth_begin(datasource=datasource, user=request.user, redirect_uri=redirect_uri)
    except OAuthFlowError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(_detail_url(datasource))
    return HttpResponseRedirect(url)


@login_required
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """Where providers send the browser back; the state names the grant."""
    try:
        datasource = oauth_complete(
            state=request.GET.get("state", ""),
            code=request.GET.get("code"),
            error=request.GET.get("error"),
            user=request.user,
        )
    except (OAuthFlowError, OutboundError) as exc:
        return render(
            request,
            "datasources/oauth_failed.html",
            {"title": "Authorization failed", "message": exc.message},
            status=400,
        )
    audit_record(datasource=datasource, action=AuditAction.CONNECTED, actor=request.user)
    messages.success(request, f"“{datasource.name}” is connected.")
    return HttpResponseRedirect(_detail_url(datasource))
