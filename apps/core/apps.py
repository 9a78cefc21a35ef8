from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from apps.core import (
            checks,  # noqa: F401 - registers the system checks
            task_context,  # noqa: F401 - connects the Celery signals
        )
        from apps.core.stamps import connect_stamped_models

        connect_stamped_models()
