from django.db import models


class WorkerHeartbeat(models.Model):
    """When a Celery worker last ran the periodic heartbeat task (one row per worker host)."""

    name = models.CharField(max_length=200, primary_key=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
