"""How a bulk job reads in the API (the contract's status shape, and a little more)."""

from __future__ import annotations

from typing import Any

from apps.bulk.models import BulkJob


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def job_status(job: BulkJob) -> dict[str, Any]:
    return {
        "id": str(job.pk),
        "kind": job.kind,
        "status": job.status,
        "total": job.total,
        "processed": job.processed,
        "succeeded": job.succeeded,
        "failed": job.failed,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "datasource": str(job.datasource_id),
        "method": job.method,
        "path": job.path,
        "message": job.message or None,
    }
