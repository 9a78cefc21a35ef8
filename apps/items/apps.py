from django.apps import AppConfig


class ItemsConfig(AppConfig):
    name = "apps.items"
    label = "items"
    verbose_name = "Connected items"

    def ready(self) -> None:
        from apps.datasources.signals import datasource_changed
        from apps.items.cache.indexes import purge_datasource
        from apps.items.models import ConnectedItem

        def on_datasource_changed(sender, datasource_id, purge=False, **kwargs) -> int:
            # What processes remember follows the data source's stamps (StampedModel); what is
            # cached of it goes here, and the count is the purge-cache action's answer.
            return purge_datasource(datasource_id) if purge else 0

        datasource_changed.connect(on_datasource_changed, weak=False, dispatch_uid="items-purge")
        from apps.tenants.navigation import DASHBOARD_CARDS, DashboardCard

        DASHBOARD_CARDS.append(
            DashboardCard(
                "Connected items",
                "item-list",
                lambda tenant: ConnectedItem.objects.filter(tenant=tenant).count(),
                "Create an item to turn an API's answers into form options.",
            )
        )
