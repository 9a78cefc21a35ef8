from django.urls import path

from apps.tenants import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("api-keys/", views.ApiKeyListView.as_view(), name="api-keys"),
    path("api-keys/<uuid:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
]
