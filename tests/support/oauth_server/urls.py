from django.contrib.auth import views as auth_views
from django.urls import include, path

from tests.support.oauth_server import views

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("api/hello", views.Hello.as_view()),
    path("_test/stats", views.stats),
    path("_test/expire", views.expire),
    path("_test/revoke-refresh", views.revoke_refresh),
    path("_test/redirect-uris", views.redirect_uris),
    path("_test/lifetime", views.lifetime),
]
