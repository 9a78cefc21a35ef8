import uuid

import pytest

from apps.core.models import WorkerHeartbeat
from apps.core.tasks import worker_heartbeat
from tests.support.worker import wait_until


@pytest.mark.django_db(transaction=True)
def test_a_task_is_executed_by_a_real_worker_process(celery_worker):
    name = f"probe-{uuid.uuid4().hex[:8]}"

    worker_heartbeat.delay(name)

    row = wait_until(lambda: WorkerHeartbeat.objects.filter(name=name).first(), timeout=30)
    assert row.seen_at is not None
    assert "apps.core.tasks.worker_heartbeat" in celery_worker.log()
