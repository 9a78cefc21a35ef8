from django.apps import AppConfig


class BulkConfig(AppConfig):
    name = "apps.bulk"
    label = "bulk"
    verbose_name = "Bulk jobs"

    def ready(self) -> None:
        from django.db import transaction
        from django.db.models.signals import post_delete

        from apps.bulk.files import delete_file
        from apps.bulk.models import BulkJob
        from apps.bulk.panel import bulk_panel
        from apps.bulk.services import job_files
        from apps.datasources.panels import DETAIL_PANELS

        DETAIL_PANELS.append(bulk_panel)

        def files_go_with_the_job(sender, instance, **kwargs) -> None:
            # Deleted with its data source too (a cascade sends this for each job).
            names = job_files(instance)
            transaction.on_commit(lambda: [delete_file(name) for name in names])

        post_delete.connect(
            files_go_with_the_job, sender=BulkJob, weak=False, dispatch_uid="bulk-files"
        )
