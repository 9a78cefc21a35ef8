"""The benchmarks are not run by the suite; what they set up is, so that they cannot rot."""

from apps.datasources.models import DataSource
from apps.items.models import ConnectedItem
from bench.seed import seed


def test_the_bench_seed_creates_its_tenant_key_data_source_and_items(db):
    made = seed("https://127.0.0.2:9")

    assert made["key"].startswith("pb_")
    assert DataSource.objects.get(pk=made["datasource"]).base_url == "https://127.0.0.2:9"
    assert set(ConnectedItem.objects.values_list("key", flat=True)) == {
        "projects",
        "varying",
        "cold",
    }
