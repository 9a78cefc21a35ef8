"""The proxy's part of a data source's page: its call statistics, how to call it, and "Try it"
(for owners and admins), which goes through the same service as the API and masks credentials
an upstream echoes back."""

from __future__ import annotations

import io
import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.views import View

from apps.core.errors import ApplicationError
from apps.core.public import absolute_url
from apps.datasources.models import DataSource
from apps.outbound.redaction import Masker
from apps.proxy.paths import InvalidPath
from apps.proxy.service import METHODS, proxy_forward, request_body
from apps.proxy.stats import stats_for
from apps.tenants.scoping import TenantRequiredMixin, TenantScopedQuerysetMixin

SHOWN_BYTES = 100_000


def proxy_panel(request: HttpRequest, datasource: DataSource) -> str:
    membership = getattr(request, "membership", None)
    return render_to_string(
        "proxy/_panel.html",
        {
            "object": datasource,
            "stats": stats_for(datasource_id=datasource.pk),
            "proxy_url": absolute_url(f"/api/v1/proxy/{datasource.slug}/", request),
            "try_url": reverse("datasource-try", args=[datasource.tenant.slug, datasource.pk]),
            "can_write": bool(membership and membership.can_write),
            "methods": METHODS,
        },
        request=request,
    )


class TryItView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """POST method, path (with its query) and body → the upstream's status, headers and body,
    through the proxy's service; answers JSON for the page's script."""

    model = DataSource
    write_required = True

    def post(self, request: HttpRequest, tenant: str, pk: str) -> JsonResponse:
        datasource = get_object_or_404(self.get_queryset(), pk=pk)
        method = request.POST.get("method", "GET").upper()
        if method not in METHODS:
            return JsonResponse({"ok": False, "message": "Choose a method."}, status=400)
        path, _, query = request.POST.get("path", "").strip().lstrip("/").partition("?")
        text = request.POST.get("body", "")
        payload = text.encode() if text and method != "GET" else b""
        headers = {"Accept": "application/json, */*"}
        if payload:
            headers["Content-Type"] = _content_type(text)
        try:
            answer = proxy_forward(
                datasource=datasource, method=method, raw_path=path, raw_query=query,
                headers=headers, body=request_body(io.BytesIO(payload), length=len(payload)),
                proxy_base=lambda: request.build_absolute_uri(
                    f"/api/v1/proxy/{datasource.slug}/"
                ),
            )  # fmt: skip
            body = answer.body if isinstance(answer.body, bytes) else _first(answer.body)
        except InvalidPath as exc:
            return JsonResponse({"ok": False, "message": exc.message}, status=400)
        except ApplicationError as exc:
            return JsonResponse({"ok": False, "status": exc.status, "message": exc.message,
                                 "code": exc.code})  # fmt: skip
        masker = Masker(answer.sensitive)
        shown = masker.text(body[:SHOWN_BYTES].decode("utf-8", errors="replace"))
        return JsonResponse({
            "ok": True,
            "status": answer.status,
            "headers": [[name, masker.text(value)] for name, value in answer.headers],
            "body": _pretty(shown, masker),
            "truncated": len(body) > SHOWN_BYTES,
        })  # fmt: skip


def _content_type(text: str) -> str:
    try:
        json.loads(text)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


def _first(chunks: Any) -> bytes:
    """The start of a streamed answer (the page shows at most SHOWN_BYTES); the rest is dropped
    and the exchange ended."""
    taken, size = [], 0
    try:
        for chunk in chunks:
            taken.append(chunk)
            size += len(chunk)
            if size > SHOWN_BYTES:
                break
    finally:
        chunks.close()
    return b"".join(taken)


def _pretty(text: str, masker: Masker) -> str:
    try:
        return masker.text(json.dumps(masker.document(json.loads(text)), indent=2,
                                      ensure_ascii=False))  # fmt: skip
    except ValueError:
        return text
