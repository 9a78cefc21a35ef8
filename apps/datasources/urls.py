from django.urls import path

from apps.datasources import views

urlpatterns = [
    path("datasources/", views.DataSourceListView.as_view(), name="datasource-list"),
    path("datasources/new/", views.DataSourceCreateView.as_view(), name="datasource-new"),
    path("datasources/<uuid:pk>/", views.DataSourceDetailView.as_view(), name="datasource-detail"),
    path(
        "datasources/<uuid:pk>/configure/",
        views.DataSourceConfigureView.as_view(),
        name="datasource-configure",
    ),
    path("datasources/<uuid:pk>/test/", views.DataSourceTestView.as_view(), name="datasource-test"),
    path(
        "datasources/<uuid:pk>/delete/",
        views.DataSourceDeleteView.as_view(),
        name="datasource-delete",
    ),
    path(
        "datasources/<uuid:pk>/discard/",
        views.DataSourceDiscardView.as_view(),
        name="datasource-discard",
    ),
    path(
        "datasources/<uuid:pk>/purge-cache/",
        views.DataSourcePurgeView.as_view(),
        name="datasource-purge",
    ),
    path(
        "datasources/<uuid:pk>/signature-key/",
        views.SignatureKeyView.as_view(),
        name="datasource-signature-key",
    ),
    path(
        "datasources/<uuid:pk>/inbound-url/",
        views.InboundRotateView.as_view(),
        name="datasource-inbound-rotate",
    ),
    path(
        "datasources/<uuid:pk>/connect/",
        views.OAuthConnectView.as_view(),
        name="datasource-connect",
    ),
]
