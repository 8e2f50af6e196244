"""A failing, slow or hung model is answered around: rules, cache, default; the breaker stops calling it."""

from __future__ import annotations

import time

from serving_support import LiveServer, set_fault

ROW = {"amount": 1000.0, "age": 30}
BIG = {"amount": 900000.0, "age": 30}


def _predict(live: LiveServer, body: object, model: str = "faulty") -> dict:
    with live.client() as client:
        response = client.post(f"/v1/models/{model}/predict", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_model_that_raises_is_answered_by_rules_then_default(live: LiveServer) -> None:
    set_fault(live.app.project, "raise")
    answer = _predict(live, [BIG, {"amount": 7.0, "age": 30}])
    assert answer["degraded"] is True and answer["reason"] == "error"
    assert answer["path"] == "mixed" and answer["paths"] == ["rules", "default"]
    assert answer["predictions"] == [True, False]
    assert answer["probabilities"] == [[0.1, 0.9], [0.5, 0.5]]
    assert answer["version"] is None
    metrics = live.app.metrics.values["shipyard_degraded_total"]
    assert metrics[("faulty", "rules", "error")] == 1
    assert metrics[("faulty", "default", "error")] == 1


def test_the_cache_answers_a_row_the_model_answered_before(live: LiveServer) -> None:
    set_fault(live.app.project, "ok")
    first = _predict(live, ROW)
    set_fault(live.app.project, "raise")
    again = _predict(live, ROW)
    assert first["path"] == "model" and again["path"] == "cache"
    assert again["probabilities"] == first["probabilities"]
    assert again["version"] == first["version"] == 1


def test_a_slow_model_is_cut_off_at_its_budget(live: LiveServer) -> None:
    set_fault(live.app.project, "sleep:2")
    started = time.perf_counter()
    answer = _predict(live, ROW)
    elapsed = time.perf_counter() - started
    assert answer["degraded"] and answer["reason"] == "timeout" and answer["path"] == "default"
    assert elapsed < 1.5  # the budget is 0.3 s; the model would take 2 s


def test_a_hung_model_opens_the_breaker_and_a_probe_closes_it(live: LiveServer) -> None:
    set_fault(live.app.project, "hang")
    reasons = [_predict(live, {"amount": float(i), "age": 30})["reason"] for i in range(4)]
    assert reasons[:2] == ["timeout", "timeout"]
    assert reasons[2:] == ["circuit_open", "circuit_open"]  # the model is not called any more
    deployment = live.app.deployments["faulty"]
    assert deployment.breaker.state == "open"
    with live.client() as client:
        assert client.get("/v1/models/faulty").json()["circuit"] == "open"
        text = client.get("/metrics").text
    assert 'shipyard_circuit_open{model="faulty"} 1' in text
    assert 'shipyard_model_failures_total{model="faulty",version="1",kind="timeout"} 2' in text


def test_after_the_cool_down_a_healthy_probe_closes_the_breaker(live: LiveServer) -> None:
    set_fault(live.app.project, "raise")
    for i in range(3):
        _predict(live, {"amount": float(i), "age": 30})
    deployment = live.app.deployments["faulty"]
    assert deployment.breaker.state == "open"
    set_fault(live.app.project, "ok")
    time.sleep(0.6)  # the cool-down is 0.5 s
    probe = _predict(live, {"amount": 5.0, "age": 30})
    assert probe["path"] == "model" and deployment.breaker.state == "closed"


def test_no_fallback_means_503_in_the_error_shape(live: LiveServer) -> None:
    set_fault(live.app.project, "raise")
    with live.client() as client:
        response = client.post("/v1/models/bare/predict", json=ROW)
    assert response.status_code == 503
    payload = response.json()
    assert payload["code"] == "unavailable"
    assert "could not answer (it raised an error)" in payload["error"]
    assert "models.bare.fallback.default" in payload["hint"]
