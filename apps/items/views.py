from __future__ import annotations

import contextlib
import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views import View
from django.views.generic import ListView

from apps.core.errors import ApplicationError
from apps.core.public import absolute_url
from apps.items.forms import ItemForm
from apps.items.models import ConnectedItem
from apps.items.options import evaluate, extract, fetch_upstream
from apps.items.rendering import dependencies
from apps.items.services import (
    ItemUsage,
    item_create,
    item_delete,
    item_unsaved,
    item_update,
    item_usage,
    unmatched_references,
)
from apps.outbound.errors import OutboundError
from apps.outbound.redaction import Masker
from apps.tenants.scoping import TenantRequiredMixin, TenantScopedQuerysetMixin

RAW_PREVIEW_LIMIT = 50_000


def _usage(request: HttpRequest, item: ConnectedItem) -> ItemUsage:
    return item_usage(
        item=item,
        api_url=absolute_url("/api/v1", request),
        widget_url=absolute_url("/static/plugboard/widget.js", request),
    )


class ItemListView(TenantRequiredMixin, TenantScopedQuerysetMixin, ListView):
    model = ConnectedItem
    template_name = "items/list.html"
    paginate_by = 25

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        q = self.request.GET.get("q", "").strip()
        if q:
            queryset = queryset.filter(Q(key__icontains=q) | Q(name__icontains=q))
        return queryset.select_related("datasource").order_by("key")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            title="Connected items", q=self.request.GET.get("q", ""), **kwargs
        )


def _initial(item: ConnectedItem) -> dict[str, Any]:
    return {
        "key": item.key, "name": item.name, "datasource": str(item.datasource_id),
        "method": item.method, "path": item.path, "body": item.body or "",
        "results_path": item.results_path, "value": item.value, "label": item.label,
    }  # fmt: skip


class ItemEditView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Create (no key in the URL) or edit an item, with its live preview."""

    model = ConnectedItem

    def _item(self, key: str | None) -> ConnectedItem | None:
        return get_object_or_404(self.get_queryset(), key=key) if key else None

    def _render(self, request: HttpRequest, form: ItemForm, item: ConnectedItem | None,
                status: int = 200) -> HttpResponse:  # fmt: skip
        return render(
            request,
            "items/edit.html",
            {
                "title": f"Connected item {item.key}" if item else "Create connected item",
                "form": form,
                "item": item,
                "dependencies": dependencies(item.path, item.body) if item else [],
                "usage": _usage(request, item) if item else None,
            },
            status=status,
        )

    def get(self, request: HttpRequest, tenant: str, key: str | None = None) -> HttpResponse:
        item = self._item(key)
        if item is None and not request.membership.can_write:
            return HttpResponse(status=403)
        form = ItemForm(initial=_initial(item) if item else {}, tenant=request.tenant)
        return self._render(request, form, item)

    def post(self, request: HttpRequest, tenant: str, key: str | None = None) -> HttpResponse:
        item = self._item(key)
        form = ItemForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            try:
                if item is None:
                    item = item_create(tenant=request.tenant, data=form.to_data())
                    messages.success(request, f"Item “{item.key}” created.")
                else:
                    item = item_update(item=item, data=form.to_data())
                    messages.success(
                        request, f"Item “{item.key}” saved; its cached options were invalidated."
                    )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                return HttpResponseRedirect(reverse("item-edit", args=[tenant, item.key]))
        return self._render(request, form, self._item(key), status=400)


class ItemPreviewView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """The live preview: the form's (unsaved) item, called fresh (no cache), with dependency
    values from the form. Answers the options and the raw answer, secrets masked."""

    model = ConnectedItem

    def post(self, request: HttpRequest, tenant: str) -> JsonResponse:
        form = ItemForm(request.POST, tenant=request.tenant)
        if not form.is_valid():
            return JsonResponse(
                {"ok": False, "errors": form.errors, "message": "Correct the item first."},
                status=400,
            )
        existing = None
        if request.POST.get("original_key"):
            existing = get_object_or_404(self.get_queryset(), key=request.POST["original_key"])
        try:
            item = item_unsaved(tenant=request.tenant, data=form.to_data(), item=existing)
            params = {
                name[len("dep_") :]: value
                for name, value in request.POST.items()
                if name.startswith("dep_")
            }
            evaluated = evaluate(item, params)
            response = fetch_upstream(item, evaluated)
        except ValidationError as exc:
            return JsonResponse(
                {"ok": False, "errors": exc.message_dict, "message": "Correct the item first."},
                status=400,
            )
        except (ApplicationError, OutboundError) as exc:
            return JsonResponse({"ok": False, "message": exc.message, "code": exc.code}, status=200)
        masker = Masker(response.sensitive)
        raw = masker.text(response.text)
        with contextlib.suppress(ValueError):  # pretty-printed, then masked again: decoding
            # JSON escapes could reveal a secret the raw text only held escaped.
            raw = json.dumps(masker.document(json.loads(response.text)), indent=2,
                             ensure_ascii=False)  # fmt: skip
        raw = masker.text(raw)
        result: dict[str, Any] = {
            "ok": response.ok,
            "status_code": response.status_code,
            "elapsed_ms": round(response.elapsed_ms, 1),
            "request": f"{evaluated.method} {evaluated.path or '/'}",
            "raw": raw[:RAW_PREVIEW_LIMIT]
            + ("\n… (truncated)" if len(raw) > RAW_PREVIEW_LIMIT else ""),
        }
        if response.ok:
            try:
                options, elements = extract(item, response)
                result["options"] = options[:200]
                result["count"] = len(options)
                result["warnings"] = unmatched_references(item=item, elements=elements)
            except OutboundError as exc:
                result.update(ok=False, message=exc.message)
        else:
            result["message"] = f"The upstream answered HTTP {response.status_code}."
        return JsonResponse(result)


class ItemDeleteView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    model = ConnectedItem
    write_required = True

    def post(self, request: HttpRequest, tenant: str, key: str) -> HttpResponse:
        item = get_object_or_404(self.get_queryset(), key=key)
        item_delete(item=item)
        messages.success(request, f"Item “{key}” deleted.")
        return HttpResponseRedirect(reverse("item-list", args=[tenant]))


class ItemDemoView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """The widget on a page, using the signed-in session (no key needed here)."""

    model = ConnectedItem

    def get(self, request: HttpRequest, tenant: str, key: str) -> HttpResponse:
        item = get_object_or_404(self.get_queryset(), key=key)
        return render(
            request,
            "items/demo.html",
            {
                "title": f"Widget demo: {item.name}",
                "item": item,
                "dependencies": dependencies(item.path, item.body),
                "api_url": absolute_url("/api/v1", request),
                "widget_url": absolute_url("/static/plugboard/widget.js", request),
                "usage": _usage(request, item),
            },
        )
