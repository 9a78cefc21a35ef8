from django.apps import AppConfig


class ItemsConfig(AppConfig):
    name = "apps.items"
    label = "items"
    verbose_name = "Connected items"

    def ready(self) -> None:
        from apps.items.models import ConnectedItem
        from apps.tenants.navigation import DASHBOARD_CARDS, DashboardCard

        DASHBOARD_CARDS.append(
            DashboardCard(
                "Connected items",
                "item-list",
                lambda tenant: ConnectedItem.objects.filter(tenant=tenant).count(),
                "Create an item to turn an API's answers into form options.",
            )
        )
