"""Prometheus exposition: counters, gauges, cumulative histograms, merged over workers."""

from __future__ import annotations

from pathlib import Path

from shipyard.serving.metrics import Metrics, SharedMetrics


def test_text_format() -> None:
    metrics = Metrics()
    metrics.inc("shipyard_predictions_total", ("risk", "1", "model"), 3)
    metrics.observe("shipyard_request_duration_seconds", ("risk", "1", "model"), 0.003)
    metrics.observe("shipyard_request_duration_seconds", ("risk", "1", "model"), 7.0)
    metrics.set("shipyard_prediction_log_spooled_rows", (), 0)
    text = metrics.render()
    assert "# TYPE shipyard_request_duration_seconds histogram" in text
    assert 'shipyard_predictions_total{model="risk",version="1",path="model"} 3' in text
    lines = [
        x for x in text.splitlines() if x.startswith("shipyard_request_duration_seconds_bucket")
    ]
    assert 'le="0.0025"} 0' in lines[2] and 'le="0.005"} 1' in lines[3]
    assert lines[-1].endswith('le="+Inf"} 2')
    assert (
        'shipyard_request_duration_seconds_count{model="risk",version="1",path="model"} 2' in text
    )
    assert (
        'shipyard_request_duration_seconds_sum{model="risk",version="1",path="model"} 7.003' in text
    )
    assert "shipyard_prediction_log_spooled_rows 0" in text


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.inc("shipyard_feedback_total", ('we"ird\\',))
    assert 'shipyard_feedback_total{model="we\\"ird\\\\"} 1' in metrics.render()


def test_workers_are_added_up(tmp_path: Path) -> None:
    """Counters from every worker's cells file; gauges from the live workers' snapshots."""
    shared = {name: SharedMetrics(tmp_path, name) for name in ("a", "b")}
    try:
        one, two = Metrics(shared["a"].cells), Metrics(shared["b"].cells)
        for metrics in (one, two):
            metrics.inc("shipyard_feedback_total", ("risk",), 2)
            metrics.observe("shipyard_batch_size", ("risk",), 4)
            metrics.set("shipyard_model_loaded", ("risk", "1"), 1)
            metrics.set("shipyard_prediction_log_spooled_rows", (), 7)
        shared["b"].write(two.snapshot())
        total = shared["a"].combined(one)
    finally:
        for one_shared in shared.values():
            one_shared.close()
    assert total.values["shipyard_feedback_total"][("risk",)] == 4
    assert sum(total.histograms["shipyard_batch_size"][("risk",)][:-1]) == 2
    assert total.values["shipyard_model_loaded"][("risk", "1")] == 2  # summed
    assert total.values["shipyard_prediction_log_spooled_rows"][()] == 7  # one spool: the max
