from django.apps import AppConfig


class ItemsConfig(AppConfig):
    name = "apps.items"
    label = "items"
    verbose_name = "Connected items"

    def ready(self) -> None:
        from django.db.models import F

        from apps.core import redis
        from apps.datasources.models import DataSource
        from apps.datasources.signals import datasource_changed
        from apps.items.cache.indexes import purge_datasource
        from apps.items.models import ConnectedItem

        def on_datasource_changed(
            sender, datasource_id, purge=False, free=True, pipeline=None, **kwargs
        ) -> int:
            # What processes remember follows the data source's stamps (StampedModel); what is
            # cached of it goes here, and the count is the purge-cache action's answer.
            if not purge:
                return 0
            if redis.client() is None:
                # Without a shared Redis each process caches on its own: a new cache version
                # (read from the database on every call) is what every process sees.
                DataSource.objects.filter(pk=datasource_id).update(
                    cache_version=F("cache_version") + 1
                )
                return 0
            return purge_datasource(datasource_id, free=free, pipeline=pipeline)

        datasource_changed.connect(on_datasource_changed, weak=False, dispatch_uid="items-purge")
        from apps.tenants.navigation import DASHBOARD_CARDS, DashboardCard

        DASHBOARD_CARDS.append(
            DashboardCard(
                "Connected items",
                "item-list",
                lambda tenant: ConnectedItem.objects.filter(tenant=tenant).count(),
                "Create an item to turn an API's answers into form options.",
                action=("Create a connected item", "item-new"),
            )
        )
