from django.apps import AppConfig


class DatasourcesConfig(AppConfig):
    name = "apps.datasources"
    label = "datasources"
    verbose_name = "Data sources"
