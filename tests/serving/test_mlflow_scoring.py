"""``/invocations`` as MLflow's own client and payload builders use it, on a real
``shipyard serve``: every documented input form (CSV too), the Content-Types MLflow
refuses refused with 415, and refused requests counted under the model they were for.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pandas as pd
import pytest
from serving_support import make_project, serve_process

import shipyard
from shipyard.monitoring.window import Window, read_log

# mlflow's own code, under pandas 3, warns of what pandas 4 will change
pytestmark = pytest.mark.filterwarnings("ignore:::mlflow")

FRAME = pd.DataFrame({"amount": [1000.0, 45000.0, 20000.5], "age": [30, 60, 18]})


@pytest.fixture(scope="module")
def mlflow() -> SimpleNamespace:
    """MLflow's scoring client and payload builders, imported here rather than at the top:
    mlflow takes seconds to import, which every test process would pay while collecting."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow warns about its own type hints as it loads
        from mlflow.models.utils import convert_input_example_to_serving_input
        from mlflow.pyfunc import scoring_server
        from mlflow.pyfunc.scoring_server.client import ScoringServerClient
    return SimpleNamespace(
        serving_input=convert_input_example_to_serving_input,
        client=ScoringServerClient,
        csv=scoring_server.CONTENT_TYPE_CSV,
        json=scoring_server.CONTENT_TYPE_JSON,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``shipyard serve risk``: one model, so /invocations needs no header to name it."""
    folder = tmp_path_factory.mktemp("mlflow") / "proj"
    make_project(folder).close()
    with serve_process(folder, "risk") as (_, url, _lines):
        yield url, folder


@pytest.fixture(scope="module")
def labels(served: tuple[str, Path]) -> list[bool]:
    """What the served model answers for ``FRAME``, straight from the registry."""
    project = shipyard.open(served[1])
    try:
        predictor = project.models.load("risk@1")
        return predictor.predict(FRAME.to_numpy(dtype=float)).astype(bool).tolist()
    finally:
        project.close()


def test_mlflow_scoring_client_with_each_input_it_builds(
    mlflow: SimpleNamespace, served: tuple[str, Path], labels: list[bool]
) -> None:
    """``ScoringServerClient.invoke`` serialises frames (dataframe_split with an index),
    records, column dicts and matrices (inputs) its own way; each is answered."""
    host, port = served[0].removeprefix("http://").rsplit(":", 1)
    client = mlflow.client(host, int(port))
    client.ping()
    for data in (
        FRAME,
        FRAME.to_dict(orient="records"),
        {name: FRAME[name].to_numpy() for name in FRAME.columns},
        FRAME.to_numpy(dtype=float),
    ):
        answer = client.invoke(data)
        assert answer["predictions"] == labels, type(data)
        assert answer.get_predictions()[0].tolist() == labels


def test_serving_inputs_from_mlflow_input_examples(
    mlflow: SimpleNamespace, served: tuple[str, Path], labels: list[bool]
) -> None:
    """The serving input MLflow saves beside a model for its input example, sent as is."""
    examples = {
        "frame": FRAME,
        "columns": {name: FRAME[name].to_numpy() for name in FRAME.columns},
        "matrix": FRAME.to_numpy(dtype=float),
        "records": FRAME.to_dict(orient="records"),
    }
    with httpx.Client(base_url=served[0], timeout=30) as http:
        for name, example in examples.items():
            body = mlflow.serving_input(example)
            assert body is not None
            answer = http.post("/invocations", content=body, headers={"Content-Type": mlflow.json})
            assert answer.status_code == 200, (name, answer.text)
            assert answer.json() == {"predictions": labels}, name


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_records": FRAME.to_dict(orient="records")},
        {"instances": FRAME.to_dict(orient="records")},
        {"instances": FRAME.to_numpy(dtype=float).tolist()},
        {"inputs": FRAME.to_dict(orient="list"), "params": {"ignored": 1}},
    ],
    ids=["dataframe_records", "instances-records", "instances-rows", "inputs-with-params"],
)
def test_the_other_documented_json_forms(
    served: tuple[str, Path], labels: list[bool], body: dict[str, object]
) -> None:
    answer = httpx.post(f"{served[0]}/invocations", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": labels}


@pytest.mark.parametrize(
    "csv",
    [
        FRAME.to_csv(index=False),
        FRAME.to_csv(),  # with pandas' unnamed index column first
        FRAME[["age", "amount"]].to_csv(index=False, lineterminator="\r\n"),
        '"amount","age"\n\n1000.0,30\n45000,"60"\n20000.5,18.0\n',  # quoted, a blank line
    ],
    ids=["to_csv-no-index", "to_csv-index", "columns-reordered-crlf", "quoted-blank-line"],
)
def test_csv_bodies(
    mlflow: SimpleNamespace, served: tuple[str, Path], labels: list[bool], csv: str
) -> None:
    """``text/csv``, as MLflow reads it: a header row, then rows, typed by the model's schema."""
    for content_type in (mlflow.csv, "text/csv; charset=UTF-8"):
        answer = httpx.post(
            f"{served[0]}/invocations",
            content=csv.encode(),
            headers={"Content-Type": content_type},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": labels}


def test_csv_problems_name_the_row_column_and_line(served: tuple[str, Path]) -> None:
    csv = "amount,age\n1000,30\n12;5,40\n500,abc\n-3,200\n"
    answer = httpx.post(
        f"{served[0]}/invocations",
        content=csv,
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["problems"] == [
        'rows[1].amount: expected a number, got "12;5" (CSV line 3)',
        'rows[2].age: expected a number, got "abc" (CSV line 4)',
        "rows[3].amount: expected a number at least 0, got -3.0 (CSV line 5)",
        "rows[3].age: expected a number at most 120, got 200.0 (CSV line 5)",
    ]


@pytest.mark.parametrize(
    ("csv", "said"),
    [
        ("amount,age\n1000,30\n45000\n", "line 3: 1 values, the header has 2"),
        ('amount,age\n1000,"30\n', "cannot be read at line"),
        ("", "expected CSV: a header row"),
        ("amount,amount\n1,2\n", "names 'amount' more than once"),
    ],
    ids=["ragged", "unclosed-quote", "empty", "duplicate-column"],
)
def test_malformed_csv_is_a_400_that_says_where(
    served: tuple[str, Path], csv: str, said: str
) -> None:
    answer = httpx.post(
        f"{served[0]}/invocations", content=csv, headers={"Content-Type": "text/csv"}, timeout=30
    )
    assert answer.status_code == 400, answer.text
    payload = answer.json()
    assert said in payload["error"] + " ".join(payload["problems"])
    assert payload["code"] == "malformed_request"


@pytest.mark.parametrize(
    ("content_type", "said"),
    [
        ("application/json; format=pandas-split", "not accepted: format=pandas-split"),
        ("application/json; format=pandas-records", "not accepted: format=pandas-records"),
        ("application/json; charset=latin-1", "must be UTF-8, got charset=latin-1"),
        ("text/csv; charset=utf-16", "must be UTF-8, got charset=utf-16"),
        ("text/csv; header=present", "not accepted: header=present"),
        ("application/vnd.apache.parquet", "Parquet"),
        ("text/plain", "application/json or text/csv"),
        ("application/x-www-form-urlencoded", "application/json or text/csv"),
    ],
)
def test_content_types_mlflow_refuses_get_415(
    mlflow: SimpleNamespace, served: tuple[str, Path], content_type: str, said: str
) -> None:
    """As MLflow's scoring server: charset=utf-8 is the only parameter; JSON and CSV only."""
    body = mlflow.serving_input(FRAME)
    answer = httpx.post(
        f"{served[0]}/invocations", content=body, headers={"Content-Type": content_type}, timeout=30
    )
    assert answer.status_code == 415, answer.text
    payload = answer.json()
    assert payload["code"] == "unsupported_media_type" and payload["status"] == 415
    assert said in payload["error"]
    assert set(payload) == {"error", "status", "code", "problems", "hint"}


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;CHARSET=UTF-8;"],
)
def test_content_types_mlflow_accepts(
    mlflow: SimpleNamespace, served: tuple[str, Path], labels: list[bool], content_type: str
) -> None:
    body = mlflow.serving_input(FRAME)
    answer = httpx.post(
        f"{served[0]}/invocations", content=body, headers={"Content-Type": content_type}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": labels}


def test_refusals_count_under_the_model_they_were_for(served: tuple[str, Path]) -> None:
    """With one model served, a refused /invocations request was for it: /metrics (and so
    the exported refusal rule) and the refusal log (``shipyard monitor``) both say so."""
    url, folder = served
    bad = {"dataframe_records": [{"amount": "lots", "age": 30}]}
    for _ in range(3):
        assert httpx.post(f"{url}/invocations", json=bad, timeout=30).status_code == 422
    refused_csv = httpx.post(
        f"{url}/invocations",
        content="amount\n1\n",
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert refused_csv.status_code == 422
    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    line = 'shipyard_requests_total{model="risk",route="/invocations",status="422"}'
    counted = [row for row in metrics.splitlines() if row.startswith(line)]
    assert counted and float(counted[0].split()[-1]) >= 4, metrics
    assert 'model="",route="/invocations"' not in metrics
    project = shipyard.open(folder)
    try:
        deadline = time.monotonic() + 30
        while True:
            logged = read_log(project.artifacts, "rejections", "risk", Window.newest(100_000))
            if logged.height >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        project.close()
    assert logged.height >= 4
    fields = {field for row in logged.get_column("fields").to_list() for field in row}
    assert {"amount", "age"} <= fields, [
        (r["fields"], r.get("problems")) for r in logged.to_dicts()
    ]
