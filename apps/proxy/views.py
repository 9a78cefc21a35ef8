"""``/api/v1/proxy/{slug}/{path}`` and ``/api/v1/datasources/{id}/stats/``."""

from __future__ import annotations

import io
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import ratelimit, stamps
from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError, Forbidden, NotFound
from apps.core.memo import StampedMemo
from apps.datasources.connections import connection_of, tenant_slot_taking
from apps.datasources.models import DataSource
from apps.outbound.client import header_int
from apps.outbound.connection import Connection
from apps.proxy.headers import client_headers
from apps.proxy.paths import raw_request_path
from apps.proxy.service import METHODS, ProxyAnswer, proxy_forward, request_body
from apps.proxy.stats import stats_for
from apps.tenants import limits
from apps.tenants.api_scoping import TenantScopedAPIView, key_access
from apps.tenants.authentication import bearer_key
from apps.tenants.models import ApiKey, ApiKeyScope
from apps.tenants.services import api_key_recall


class Found:
    """A data source the proxy found by slug, with its connection (settings and secrets, see
    ``connection_of``) made at its first call: both hold as long as the memory of it does."""

    __slots__ = ("_connection", "datasource")

    def __init__(self, datasource: DataSource) -> None:
        self.datasource = datasource
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = connection_of(self.datasource)  # (SecretsUnreadable: not kept)
        return self._connection


# Data sources the proxy found by slug, remembered under their tenant's stamp (the same stamp
# that confirms a remembered key: one Redis read confirms both).
DATASOURCES: StampedMemo[tuple[int, str], Found] = StampedMemo(size=1024, max_age=300)
_renderer = JSONRenderer()
# What a browser may do with a proxied answer opened on this origin: nothing (no scripts, no
# plugins, no same-origin access), whatever the upstream sent.
SANDBOX = "default-src 'none'; sandbox"
# The proxy's route under /api/v1/ (the URLconf's and ProxyMiddleware's): the rest of the path
# is taken as the client wrote it (see apps.proxy.paths).
ROUTE = r"proxy/(?P<slug>[-\w]+)/(?P<path>.*)"


def datasource_by_slug(*, tenant_id: int, slug: str) -> Found | None:
    """The tenant's data source named ``slug`` (remembered while the tenant's stamp holds)."""
    stamp = stamps.tenant_stamp(tenant_id)
    value = stamps.current(stamp)  # before the read it will vouch for
    datasource = DataSource.objects.filter(tenant_id=tenant_id, slug=slug).first()
    if datasource is None:
        return None
    found = Found(datasource)
    DATASOURCES.remember((tenant_id, slug), found, stamp=stamp, stamp_value=value)
    return found


class ProxyAccess(permissions.BasePermission):
    """Admin keys, and sessions of owners and admins: the proxy can change anything upstream."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if isinstance(request.auth, ApiKey):
            return key_access(request.auth, widget_access=False, method=request.method, origin=None)
        membership = getattr(request, "membership", None)
        if membership is None:
            return False
        if not membership.can_write:
            raise Forbidden(
                "Only owners and admins of the tenant may use the proxy.",
                code=ErrorCode.PERMISSION_DENIED,
            )
        return True


def _response(answer: ProxyAnswer) -> HttpResponseBase:
    if isinstance(answer.body, bytes):
        response: HttpResponseBase = HttpResponse(answer.body, status=answer.status)
    else:
        response = StreamingHttpResponse(answer.body, status=answer.status)
        if answer.length is not None:
            response["Content-Length"] = str(answer.length)
    if "Content-Type" in response:
        del response["Content-Type"]  # Django's default; the upstream's own is set below
    for name, value in answer.headers:
        response[name] = value
    if "Content-Type" not in response:
        response["Content-Type"] = "application/octet-stream"
    response["Content-Security-Policy"] = SANDBOX
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _error(exc: ApplicationError) -> HttpResponse:
    response = HttpResponse(
        _renderer.render(exc.as_body()), status=exc.status, content_type="application/json"
    )
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _client_body(request: HttpRequest) -> Any:
    """The client's body, spooled (see ``service.request_body``)."""
    meta = request.META
    announced = meta.get("CONTENT_LENGTH") or ""
    if not announced and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return request_body(meta["wsgi.input"], length=None)
    if getattr(request, "_read_started", False):  # the CSRF check read a form body already
        return request_body(io.BytesIO(request.body), length=len(request.body))
    return request_body(request, length=header_int(announced) or 0)


def forward(
    request: HttpRequest, found: Found, slug: str, taking: object = None
) -> HttpResponseBase:
    """Forward ``request`` to the data source ``found`` and answer with what came back
    (``taking``: a take of the tenant's call slot already asked for)."""
    meta = request.META
    raw_uri = meta.get("RAW_URI") or meta.get("REQUEST_URI") or request.get_full_path()
    answer = proxy_forward(
        datasource=found.datasource,
        connect=lambda: found.connection,
        method=request.method,
        raw_path=raw_request_path(raw_uri, f"/api/v1/proxy/{slug}"),
        raw_query=meta.get("QUERY_STRING", ""),
        headers=client_headers(meta),
        body=_client_body(request),
        proxy_base=lambda: request.build_absolute_uri(f"/api/v1/proxy/{slug}/"),
        taking=taking,
    )
    return _response(answer)


PROXY_EXAMPLES = {
    "GET": ("List issues", None, "/api/v1/proxy/jira-cloud/search?jql=project%3DPB"),
    "POST": ("Create an issue", {"fields": {"project": {"key": "PB"}, "summary": "Hi"}},
             "/api/v1/proxy/jira-cloud/issue"),
    "PUT": ("Replace a record", {"name": "Plugboard"}, "/api/v1/proxy/crm/accounts/42"),
    "PATCH": ("Change a field", {"status": "done"}, "/api/v1/proxy/crm/tasks/7"),
    "DELETE": ("Delete a record", None, "/api/v1/proxy/crm/tasks/7"),
}  # fmt: skip


def _proxy_schema(method: str) -> Any:
    summary, body, path = PROXY_EXAMPLES[method]
    return extend_schema(
        summary=f"Proxy a {method} call to the data source",
        description=(
            f"Forwards `{method} {{base_url}}/{{path}}` with the query string as written, the "
            "body and the client's headers (never Authorization, Cookie, Proxy-*, "
            "X-Plugboard-*, Forwarded, X-Forwarded-* or hop-by-hop ones), adding the data "
            "source's headers and credentials. Answers the upstream's status, body and the "
            "headers a client needs; its own failures (an invalid path, a body over 20 MB, an "
            "upstream that cannot be reached or does not answer in time) are Plugboard's error "
            "body. Example: " + path
        ),
        parameters=[
            OpenApiParameter(
                "slug", str, OpenApiParameter.PATH, description="The data source's slug"
            ),
            OpenApiParameter(
                "path",
                str,
                OpenApiParameter.PATH,
                description="Path below the data source's base URL",
            ),
        ],
        request=None if body is None else {"application/json": dict},
        examples=[OpenApiExample(summary, value=body, request_only=True)] if body else [],
        # Any status: the upstream's own (its body and content type), or Plugboard's error.
        responses={
            ("default", "*/*"): OpenApiResponse(
                bytes, description="The upstream's answer, or Plugboard's error body."
            )
        },
    )


class ProxyView(TenantScopedAPIView):
    """A data source as an authenticated API connection: the base URL and credentials are
    added here. Not cached; the only retry is the one after a token refresh."""

    permission_classes = [permissions.IsAuthenticated, ProxyAccess]
    renderer_classes = [JSONRenderer]
    http_method_names = [m.lower() for m in METHODS]

    def _proxy(self, request: Request, slug: str, path: str = "") -> HttpResponseBase:
        key_id = request.auth.pk if isinstance(request.auth, ApiKey) else None
        ratelimit.count(limits.quotas("proxy", request.tenant.pk, key=key_id))
        found = datasource_by_slug(tenant_id=request.tenant.pk, slug=slug)
        if found is None:
            raise NotFound("No data source with this slug.")
        return forward(request._request, found, slug)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response):
            return super().finalize_response(request, response, *args, **kwargs)
        return response  # the upstream's answer, headers as they are

    @_proxy_schema("GET")
    def get(self, request: Request, slug: str, path: str = "") -> HttpResponseBase:
        return self._proxy(request, slug)

    @_proxy_schema("POST")
    def post(self, request: Request, slug: str, path: str = "") -> HttpResponseBase:
        return self._proxy(request, slug)

    @_proxy_schema("PUT")
    def put(self, request: Request, slug: str, path: str = "") -> HttpResponseBase:
        return self._proxy(request, slug)

    @_proxy_schema("PATCH")
    def patch(self, request: Request, slug: str, path: str = "") -> HttpResponseBase:
        return self._proxy(request, slug)

    @_proxy_schema("DELETE")
    def delete(self, request: Request, slug: str, path: str = "") -> HttpResponseBase:
        return self._proxy(request, slug)


def by_remembered_key(request: HttpRequest, slug: str) -> HttpResponseBase | None:
    """The answer to a call by a remembered admin key (``ProxyMiddleware`` asks); None sends
    the call the full way. The one Redis round trip that confirms the key also counts the call
    and takes a call slot."""
    if request.method not in METHODS:
        return None
    raw = bearer_key(request)
    remembered = api_key_recall(raw=raw) if raw else None
    if remembered is None or remembered.value.scope != ApiKeyScope.ADMIN:
        return None
    tenant_id = remembered.value.tenant_id
    stamp = stamps.tenant_stamp(tenant_id)
    counting = ratelimit.Counting(limits.quotas("proxy", tenant_id, key=remembered.value.pk))
    taking = tenant_slot_taking(tenant_id)
    try:
        current = {stamp: stamps.read_counting(stamp, counting, taking)}
        if not remembered.confirm(current):
            return None  # (the full way counts it again: a key that changed is rare)
        known = DATASOURCES.recall((tenant_id, slug))
        counting.check()
        if known is not None and known.confirm(current):
            found: Found | None = known.value
        else:
            found = datasource_by_slug(tenant_id=tenant_id, slug=slug)
        if found is None:
            raise NotFound("No data source with this slug.")
        return forward(request, found, slug, taking)
    except ApplicationError as exc:
        return _error(exc)
    finally:
        taking.give_back()  # (when it was not handed on: refused before the call)


class StatsSerializer(serializers.Serializer):
    window_hours = serializers.IntegerField()
    calls = serializers.IntegerField()
    errors = serializers.IntegerField()
    by_class = serializers.DictField(child=serializers.IntegerField())
    latency_ms = serializers.DictField(child=serializers.FloatField(allow_null=True))


class DataSourceStatsView(TenantScopedAPIView):
    """Proxy calls to one data source over the last 24 hours."""

    @extend_schema(summary="Proxy call statistics of a data source (last 24 h)",
                   responses={200: StatsSerializer})  # fmt: skip
    def get(self, request: Request, pk: str) -> Response:
        if not DataSource.objects.filter(tenant=request.tenant, pk=pk).exists():
            raise NotFound("No such data source.")
        return Response(stats_for(datasource_id=pk))
