from django.urls import path

from apps.items import views

urlpatterns = [
    path("items/", views.ItemListView.as_view(), name="item-list"),
    path("items/new/", views.ItemEditView.as_view(), name="item-new"),
    path("items/preview/", views.ItemPreviewView.as_view(), name="item-preview"),
    path("items/<str:key>/", views.ItemEditView.as_view(), name="item-edit"),
    path("items/<str:key>/delete/", views.ItemDeleteView.as_view(), name="item-delete"),
    path("items/<str:key>/demo/", views.ItemDemoView.as_view(), name="item-demo"),
]
