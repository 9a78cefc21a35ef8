from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView

from apps.datasources.models import DataSource
from apps.outbound.errors import OutboundError
from apps.outbound.oauth import OAuthFlowError, oauth_begin, oauth_complete
from apps.tenants.scoping import TenantRequiredMixin, TenantScopedQuerysetMixin


class DataSourceDetailView(TenantRequiredMixin, TenantScopedQuerysetMixin, DetailView):
    model = DataSource
    template_name = "datasources/detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["title"] = self.object.name
        return context


class OAuthConnectView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Starts the provider's consent flow for an authorization-code data source."""

    model = DataSource
    write_required = True

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        datasource = get_object_or_404(self.get_queryset(), pk=pk)
        redirect_uri = request.build_absolute_uri(reverse("oauth-callback"))
        try:
            url = oauth_begin(datasource=datasource, user=request.user, redirect_uri=redirect_uri)
        except OAuthFlowError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(reverse("datasource-detail", args=[tenant, pk]))
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
    messages.success(request, f"“{datasource.name}” is connected.")
    return HttpResponseRedirect(
        reverse("datasource-detail", args=[datasource.tenant.slug, datasource.pk])
    )
