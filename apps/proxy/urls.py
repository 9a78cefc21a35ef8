from django.urls import path

from apps.proxy.panel import TryItView

urlpatterns = [
    path("datasources/<uuid:pk>/try/", TryItView.as_view(), name="datasource-try"),
]
