from django.urls import path

from apps.datasources import views

urlpatterns = [
    path("datasources/<uuid:pk>/", views.DataSourceDetailView.as_view(), name="datasource-detail"),
    path(
        "datasources/<uuid:pk>/connect/",
        views.OAuthConnectView.as_view(),
        name="datasource-connect",
    ),
]
