"""Sent when what was derived from a data source must go (it was deleted, or its cache purged:
``purge``; ``free``: delete what was cached now rather than let it expire; ``pipeline``: a
Redis pipeline to add the purge's commands to rather than send them). Receivers (apps.items)
return how many cached answers they removed."""

from django.dispatch import Signal

datasource_changed = Signal()  # kwargs: datasource_id, tenant_id, purge, free, pipeline
