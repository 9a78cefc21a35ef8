from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.generic import DetailView, ListView
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.core.public import absolute_url
from apps.datasources.connection_test import connection_test
from apps.datasources.connections import token_state_get
from apps.datasources.event_settings import EventsInput, new_signature_key
from apps.datasources.forms import ConfigureForm, CreateForm
from apps.datasources.inputs import datasource_input
from apps.datasources.models import AuditAction, DataSource, TokenState
from apps.datasources.oauth import OAuthFlowError, oauth_begin, oauth_complete
from apps.datasources.panels import detail_panels
from apps.datasources.representation import event_secrets_set, secrets_set
from apps.datasources.services import (
    audit_record,
    datasource_create,
    datasource_delete,
    datasource_inbound_rotate,
    datasource_preview,
    datasource_purge_cache,
    datasource_record_test,
    datasource_update,
)
from apps.outbound.auth import get_mode
from apps.outbound.errors import OutboundError
from apps.tenants.scoping import TenantRequiredMixin, TenantScopedQuerysetMixin


def _detail_url(datasource: DataSource) -> str:
    return reverse("datasource-detail", args=[datasource.tenant.slug, datasource.pk])


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
        return queryset.order_by("name", "pk")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            title="Data sources", q=self.request.GET.get("q", "").strip(), **kwargs
        )


class DataSourceCreateView(TenantRequiredMixin, View):
    """The wizard's first steps: choose the type (REST API) → Next → name → Create."""

    write_required = True

    def get(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return render(
            request, "datasources/new.html", {"title": "Create data source", "step": "type"}
        )

    def post(self, request: HttpRequest, tenant: str) -> HttpResponse:
        if request.POST.get("type") != "rest":
            return render(
                request,
                "datasources/new.html",
                {"title": "Create data source", "step": "type", "error": "Choose a type."},
                status=400,
            )
        if "name" not in request.POST:
            return render(
                request,
                "datasources/new.html",
                {"title": "Create data source", "step": "name", "form": CreateForm()},
            )
        form = CreateForm(request.POST)
        if form.is_valid():
            try:
                datasource = datasource_create(
                    tenant=request.tenant, actor=request.user, name=form.cleaned_data["name"]
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
        return render(
            request,
            "datasources/new.html",
            {"title": "Create data source", "step": "name", "form": form},
            status=400,
        )


class DataSourceDetailView(TenantRequiredMixin, TenantScopedQuerysetMixin, DetailView):
    model = DataSource
    template_name = "datasources/detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ds = self.object
        state = token_state_get(datasource_id=ds.pk)
        return super().get_context_data(
            title=ds.name,
            auth_description=get_mode(ds.auth_mode).describe(ds.auth_config or {}),
            secrets_set=secrets_set(ds),
            token_state=state,
            connected=bool(state and (state.access_token or state.refresh_token)),
            callback_url=absolute_url(reverse("oauth-callback"), self.request),
            audit=ds.audit_entries.select_related("actor")[:50],
            panels=detail_panels(self.request, ds),
            **kwargs,
        )


@method_decorator(never_cache, name="dispatch")
class DataSourceConfigureView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Server details, custom headers, authentication and test settings, on one page."""

    model = DataSource
    write_required = True

    def _render(self, request: HttpRequest, form: ConfigureForm, status: int = 200) -> HttpResponse:
        ds = form.datasource
        return render(
            request,
            "datasources/configure.html",
            {
                "title": f"Configure {ds.name}",
                "object": ds,
                "form": form,
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
                changes = datasource_input(form.to_data(), auth_mode=ds.auth_mode, partial=True)
                datasource_update(datasource=ds, actor=request.user, **changes)
            except (ValidationError, DRFValidationError) as exc:
                form.add_errors(exc)
            else:
                messages.success(request, f"“{ds.name}” saved.")
                if request.POST.get("then") == "connect":
                    return _begin_oauth(request, ds)
                return HttpResponseRedirect(_detail_url(ds))
        # Everything typed comes back, except secrets (password inputs never render a value).
        return self._render(request, form, status=400)


class DataSourceTestView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Test connection: with the configure page's unsaved values (POST body) or, from the
    detail page (no body), with the saved settings. Answers JSON."""

    model = DataSource
    write_required = True

    def post(self, request: HttpRequest, tenant: str, pk: str) -> JsonResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        saved = "base_url" not in request.POST
        target, tokens_usable = ds, True
        if not saved:
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
            saved=saved,
        )  # fmt: skip
        return JsonResponse(result)

    @staticmethod
    def _invalid(form: ConfigureForm) -> JsonResponse:
        errors = {key: [str(e) for e in value] for key, value in form.errors.items()}
        if form.header_errors:
            errors["headers"] = form.header_errors
        return JsonResponse(
            {"ok": False, "message": "Correct the highlighted fields first.", "errors": errors,
             "steps": []},
            status=400,
        )  # fmt: skip


class DataSourceDeleteView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    model = DataSource
    write_required = True

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        return render(
            request, "datasources/delete.html", {"title": f"Delete {ds.name}", "object": ds}
        )

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        name = ds.name
        datasource_delete(datasource=ds, actor=request.user)
        messages.success(request, f"“{name}” deleted, with its stored secrets and tokens.")
        return HttpResponseRedirect(reverse("datasource-list", args=[tenant]))


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
