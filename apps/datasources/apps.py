from django.apps import AppConfig


class DatasourcesConfig(AppConfig):
    name = "apps.datasources"
    label = "datasources"
    verbose_name = "Data sources"

    def ready(self) -> None:
        from apps.datasources.models import DataSource
        from apps.tenants.navigation import DASHBOARD_CARDS, DashboardCard

        DASHBOARD_CARDS.append(
            DashboardCard(
                "Data sources",
                "datasource-list",
                lambda tenant: DataSource.objects.filter(tenant=tenant).count(),
                "Create a data source to connect your first REST API.",
                action=("Create a data source", "datasource-new"),
            )
        )
