from django.apps import AppConfig


class ProxyConfig(AppConfig):
    name = "apps.proxy"
    label = "proxy"
    verbose_name = "Proxy"

    def ready(self) -> None:
        from apps.datasources.panels import DETAIL_PANELS
        from apps.proxy.panel import proxy_panel

        DETAIL_PANELS.append(proxy_panel)
