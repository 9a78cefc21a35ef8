"""Sent after a data source changed in a way that invalidates what was derived from it
(cached options, remembered items). Receivers: apps.items."""

from django.dispatch import Signal

datasource_changed = Signal()  # kwargs: datasource
