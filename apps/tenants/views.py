from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView, TemplateView

from apps.tenants.forms import ApiKeyForm
from apps.tenants.models import ApiKey
from apps.tenants.navigation import dashboard_cards
from apps.tenants.scoping import TenantRequiredMixin, TenantScopedQuerysetMixin
from apps.tenants.selectors import memberships_for_user
from apps.tenants.services import api_key_create, api_key_revoke


@login_required
def tenant_picker(request: HttpRequest) -> HttpResponse:
    memberships = list(memberships_for_user(user=request.user))
    if len(memberships) == 1 and not request.GET.get("all"):
        return redirect("dashboard", tenant=memberships[0].tenant.slug)
    return render(request, "tenants/picker.html", {"memberships": memberships, "title": "Tenants"})


class DashboardView(TenantRequiredMixin, TemplateView):
    template_name = "tenants/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        tenant = self.request.tenant
        context.update(
            title=tenant.name,
            api_key_count=ApiKey.objects.filter(tenant=tenant, revoked_at__isnull=True).count(),
            dashboard_cards=dashboard_cards(tenant),
        )
        return context


@method_decorator(never_cache, name="dispatch")
class ApiKeyListView(TenantRequiredMixin, TenantScopedQuerysetMixin, ListView):
    """List of the tenant's keys, with the create form; a new key is shown once, in the
    response to the POST that made it. Revoked keys are listed only with ``?revoked=1``."""

    model = ApiKey
    template_name = "tenants/api_keys.html"
    paginate_by = 25

    @property
    def show_revoked(self) -> bool:
        return self.request.GET.get("revoked") == "1"

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.order_by(F("revoked_at").asc(nulls_first=True), "-created_at")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        keys = self.object_list  # the tenant's keys, active first
        listed = keys if self.show_revoked else keys.filter(revoked_at__isnull=True)
        context = super().get_context_data(object_list=listed, **kwargs)
        context.setdefault("form", ApiKeyForm())
        context.update(
            title="API keys",
            show_revoked=self.show_revoked,
            revoked_count=keys.filter(revoked_at__isnull=False).count(),
            page_query="revoked=1" if self.show_revoked else "",
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = ApiKeyForm(request.POST)
        new_key = None
        if form.is_valid():
            try:
                key, raw = api_key_create(
                    tenant=request.tenant,
                    scope=form.cleaned_data["scope"],
                    name=form.cleaned_data["name"],
                    origins=form.cleaned_data["allowed_origins"],
                    created_by=request.user,
                    widget_origin_required=True,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                new_key = {"object": key, "raw": raw}
                messages.success(request, f"API key “{key.name}” created. Copy it now.")
                form = ApiKeyForm()
        self.object_list = self.get_queryset()
        context = self.get_context_data(form=form, new_key=new_key)
        return self.render_to_response(context, status=200 if new_key or form.is_valid() else 400)


class ApiKeyRevokeView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    model = ApiKey
    http_method_names = ["post"]

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponseRedirect:
        key = get_object_or_404(self.get_queryset(), pk=pk)
        api_key_revoke(api_key=key)
        messages.success(request, f"API key “{key.name}” revoked. Requests with it now fail.")
        url = reverse("api-keys", kwargs={"tenant": tenant})
        return HttpResponseRedirect(
            url + ("?revoked=1" if request.GET.get("revoked") == "1" else "")
        )


def locked_out(request: HttpRequest, response: Any = None, credentials: Any = None) -> HttpResponse:
    """What a locked-out log-in gets (django-axes calls this): 429, how long, what to do."""
    minutes = max(round(settings.AXES_COOLOFF_TIME.total_seconds() / 60), 1)
    answer = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    answer["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return answer
