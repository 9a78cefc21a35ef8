from django.apps import AppConfig


class ItemsConfig(AppConfig):
    name = "apps.items"
    label = "items"
    verbose_name = "Connected items"

    def ready(self) -> None:
        from apps.datasources.signals import datasource_changed
        from apps.items.lookup import bump_stamp
        from apps.items.models import ConnectedItem

        def on_datasource_changed(sender, datasource, **kwargs):
            bump_stamp(datasource.tenant_id)

        datasource_changed.connect(on_datasource_changed, weak=False, dispatch_uid="items-stamp")
        from apps.tenants.navigation import DASHBOARD_CARDS, DashboardCard

        DASHBOARD_CARDS.append(
            DashboardCard(
                "Connected items",
                "item-list",
                lambda tenant: ConnectedItem.objects.filter(tenant=tenant).count(),
                "Create an item to turn an API's answers into form options.",
            )
        )
