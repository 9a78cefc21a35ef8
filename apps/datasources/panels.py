"""Parts of a data source's page that higher apps add (the proxy's statistics and its "Try it",
for instance), without this app knowing them: each panel is a function of the request and the
data source that returns HTML, or "" to show nothing."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from apps.datasources.models import DataSource

DETAIL_PANELS: list[Callable[[HttpRequest, DataSource], str]] = []


def detail_panels(request: HttpRequest, datasource: DataSource) -> list[str]:
    return [html for panel in DETAIL_PANELS if (html := panel(request, datasource))]
