"""Deliveries are counted: attempts by outcome, and their upstream calls under the data source
with purpose "events"."""

from prometheus_client import REGISTRY

from tests.events.test_delivery import record, run_until_done


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_attempts_and_their_calls_are_counted(delivering_source):
    datasource = delivering_source("500", "503")
    calls = {"datasource": str(datasource.pk), "purpose": "events"}
    before = {
        outcome: sample("plugboard_event_delivery_attempts_total", outcome=outcome)
        for outcome in ("retry", "delivered", "failed")
    }

    run_until_done(record(datasource))

    moved = {
        outcome: sample("plugboard_event_delivery_attempts_total", outcome=outcome) - count
        for outcome, count in before.items()
    }
    assert moved == {"retry": 2, "delivered": 1, "failed": 0}
    assert sample("plugboard_upstream_calls_total", **calls, outcome="5xx") == 2
    assert sample("plugboard_upstream_calls_total", **calls, outcome="2xx") == 1


def test_an_answer_that_is_not_retried_counts_as_failed(delivering_source):
    datasource = delivering_source("410")
    before = sample("plugboard_event_delivery_attempts_total", outcome="failed")

    run_until_done(record(datasource))

    assert sample("plugboard_event_delivery_attempts_total", outcome="failed") == before + 1
