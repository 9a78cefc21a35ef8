from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from apps.core.views import healthz, metrics, readyz
from apps.datasources.views import oauth_callback
from apps.tenants.api_docs import SchemaView, SwaggerView
from apps.tenants.views import tenant_picker


def _superusers_only(request) -> bool:
    return request.user.is_active and request.user.is_superuser


# The Django admin sees every tenant's rows, so it is for superusers only.
admin.site.has_permission = _superusers_only
admin.site.site_header = "Plugboard administration"
admin.site.site_title = "Plugboard admin"

urlpatterns = [
    # The API first: its options endpoint is the hottest route, resolved on every widget call.
    path("api/v1/", include("config.api_urls")),
    path("", tenant_picker, name="tenant-picker"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("oauth/callback/", oauth_callback, name="oauth-callback"),
    path("t/<slug:tenant>/", include("apps.tenants.urls")),
    path("t/<slug:tenant>/", include("apps.datasources.urls")),
    path("t/<slug:tenant>/", include("apps.items.urls")),
    path("t/<slug:tenant>/", include("apps.proxy.urls")),
    path("t/<slug:tenant>/", include("apps.events.urls")),
    path("t/<slug:tenant>/", include("apps.bulk.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
]

handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_failure"
