import json

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import AccessToken, Application, RefreshToken
from oauth2_provider.views import ProtectedResourceView


def _counter(name: str, bump: bool = False) -> int:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER)")
        if bump:
            cursor.execute(
                "INSERT INTO counters (name, n) VALUES (%s, 1) "
                "ON CONFLICT(name) DO UPDATE SET n = n + 1",
                [name],
            )
        cursor.execute("SELECT n FROM counters WHERE name = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else 0


class CountTokenRequests:
    """Counts every request to the token endpoint, whatever its outcome."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/o/token/" and request.method == "POST":
            grant = request.POST.get("grant_type", "unknown")
            _counter("token_requests", bump=True)
            _counter(f"grant:{grant}", bump=True)
        return self.get_response(request)


def stats(request):
    names = ["token_requests", "grant:client_credentials", "grant:refresh_token",
             "grant:authorization_code", "grant:password"]  # fmt: skip
    return JsonResponse({name: _counter(name) for name in names})


class Hello(ProtectedResourceView):
    """A resource server as RFC 6750 describes it: 401 for a missing or expired token."""

    def unauthenticated_response(self, request, oauth_request):
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    def get(self, request):
        token = request.resource_owner
        return JsonResponse(
            {
                "user": getattr(token, "username", None) or None,
                "client": getattr(getattr(request, "oauth2_client", None), "client_id", None),
                "ok": True,
            }
        )


@csrf_exempt
def expire(request):
    """Test hook: make one access token (or all) expired, as if time had passed."""
    body = json.loads(request.body or b"{}")
    tokens = AccessToken.objects.all()
    if body.get("token"):
        tokens = tokens.filter(token=body["token"])
    count = tokens.update(expires=timezone.now() - timezone.timedelta(seconds=1))
    return JsonResponse({"expired": count})


@csrf_exempt
def revoke_refresh(request):
    """Test hook: revoke every refresh token, as a provider does when access is withdrawn."""
    count = 0
    for token in RefreshToken.objects.filter(revoked__isnull=True):
        token.revoke()
        count += 1
    return JsonResponse({"revoked": count})


@csrf_exempt
def redirect_uris(request):
    """Test hook: register another redirect URI for an application."""
    body = json.loads(request.body)
    app = Application.objects.get(client_id=body["client_id"])
    uris = set(app.redirect_uris.split())
    uris.add(body["uri"])
    app.redirect_uris = " ".join(sorted(uris))
    app.save()
    return HttpResponse(status=204)


def token_lifetime(request) -> int:
    """ACCESS_TOKEN_EXPIRE_SECONDS: per client, as set through the lifetime hook (else 3600)."""
    client_id = getattr(request, "client_id", None) or getattr(
        getattr(request, "client", None), "client_id", ""
    )
    return _counter(f"lifetime:{client_id}") or 3600


@csrf_exempt
def lifetime(request):
    """Test hook: issue tokens living ``seconds`` to ``client_id`` (0 restores 3600)."""
    body = json.loads(request.body)
    name = f"lifetime:{body['client_id']}"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER)")
        cursor.execute(
            "INSERT INTO counters (name, n) VALUES (%s, %s) ON CONFLICT(name) DO UPDATE SET n = %s",
            [name, int(body["seconds"]), int(body["seconds"])],
        )
    return JsonResponse({"client_id": body["client_id"], "seconds": int(body["seconds"])})
