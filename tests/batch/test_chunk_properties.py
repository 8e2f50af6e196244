"""The chunk step loses no row and does not depend on how the input is cut.

For any chunk size, every input row ends either answered or quarantined (once), the
prediction ids name the input rows, and the answers and log rows are the same as when
the input is scored in one chunk: the same values, but for the probabilities' last bits
(BLAS picks its dot-product kernel by the matrix's size, so a row's sum can round
differently in a chunk of 5 rows than in one of 120).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_support import frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from shipyard.batch import BatchRun, Scorer, score_chunk
from shipyard.batch.inputs import InputFile, chunks
from shipyard.config import ColumnConfig
from shipyard.models.predictor import SklearnPredictor

ROWS = 120
RUN = BatchRun(
    "20261203T120000-0badc0de", "risk", 4, ("rows.parquet",), "loan_id",
    datetime(2026, 12, 3, 12, tzinfo=UTC), "tester",
)  # fmt: skip


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    train = frame(200, seed=1)
    y = (train["amount"] / 1000 + train["age"] / 10 > 30).to_numpy()
    model = LogisticRegression(max_iter=1000).fit(train[["amount", "age"]].to_numpy(), y)
    columns = {
        "amount": ColumnConfig(type="float", min=0),
        "age": ColumnConfig(type="int", min=18, max=120, nullable=False),
    }
    return Scorer.build(
        SklearnPredictor(model, ["amount", "age"], "binary_classification"),
        ["amount", "age"],
        columns,
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chunks") / "rows.parquet"
    rows = frame(ROWS, seed=2, bad=3)
    rows.loc[rows.index % 17 == 5, "age"] = None  # not nullable: quarantined
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), path, row_group_size=50)
    return path


def _score(scorer: Scorer, path: Path, chunk_rows: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    answers, logs, quarantined = [], [], []
    offset = 0
    for table in chunks([InputFile(path, "parquet")], chunk_rows):
        result = score_chunk(scorer, table, run=RUN, offset=offset)
        assert result.rows_in == table.num_rows == result.scored + result.quarantined
        offset += result.rows_in
        answers.append(result.answers)
        logs.append(result.log)
        quarantined.append(result.quarantine)
    assert offset == ROWS
    return (pa.concat_tables(answers), pa.concat_tables(logs), pa.concat_tables(quarantined))


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chunk_rows=st.integers(min_value=5, max_value=ROWS + 10))
def test_any_chunking_gives_the_same_rows_and_loses_none(
    scorer: Scorer, source: Path, chunk_rows: int
) -> None:
    whole = _score(scorer, source, ROWS)
    answers, log, quarantined = _score(scorer, source, chunk_rows)
    rows = sorted(
        [int(i.rsplit("-", 1)[1]) for i in answers["prediction_id"].to_pylist()]
        + quarantined["_row"].to_pylist()
    )
    assert rows == list(range(1, ROWS + 1))  # each row once: answered or quarantined
    _assert_same(answers, whole[0])
    _assert_same(log, whole[1])
    assert quarantined.combine_chunks().equals(whole[2].combine_chunks())
    ids = pq.read_table(source).column("loan_id").to_pylist()
    assert answers["loan_id"].to_pylist() == [ids[r - 1] for r in
                                              [int(i.rsplit("-", 1)[1]) for i in answers["prediction_id"].to_pylist()]]  # fmt: skip


def _assert_same(got: pa.Table, expected: pa.Table) -> None:
    """Equal tables, floating-point columns (and lists of them) to 1e-12 relative."""
    assert got.schema == expected.schema
    for name in got.column_names:
        a, b = got[name].combine_chunks(), expected[name].combine_chunks()
        if pa.types.is_list(a.type) and pa.types.is_floating(a.type.value_type):
            assert a.value_lengths().equals(b.value_lengths()), name
            a, b = a.flatten(), b.flatten()
        if pa.types.is_floating(a.type):
            assert a.is_null().equals(b.is_null()), name
            x = a.to_numpy(zero_copy_only=False)
            y = b.to_numpy(zero_copy_only=False)
            assert np.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True), name
        else:
            assert a.equals(b), name


def test_the_log_rows_have_the_logs_columns_and_the_runs_time(scorer: Scorer, source: Path) -> None:
    from shipyard.predlog import COLUMNS, PREDICTIONS

    _, log, _ = _score(scorer, source, 100)
    assert log.column_names == [c.name for c in COLUMNS[PREDICTIONS]]
    assert set(log["time"].to_pylist()) == {RUN.started_at}
    assert set(log["source"].to_pylist()) == {"batch"}
    assert set(log["run_id"].to_pylist()) == {RUN.run_id}
    assert log["inputs"].type == pa.struct([("amount", pa.float64()), ("age", pa.float64())])

    _, _, quarantined = _score(scorer, source, 100)
    missing = [r for r in quarantined.to_pylist() if r["age"] is None]
    assert missing and all(any("age" in why for why in r["_reasons"]) for r in missing)


def test_rows_with_a_missing_value_the_model_refuses_are_quarantined(
    scorer: Scorer, source: Path
) -> None:
    """A nullable feature passes validation; a linear model refuses NaN: those rows are
    quarantined with the reason, the others scored."""
    from dataclasses import replace

    from shipyard.config import DatasetConfig

    columns = dict(scorer.dataset.columns)
    columns["age"] = columns["age"].model_copy(update={"nullable": True})
    nullable = replace(scorer, dataset=DatasetConfig(columns=columns))
    answers, _, quarantined = _score(nullable, source, 50)
    missing = [r for r in quarantined.to_pylist() if r["age"] is None]
    nulls = pq.read_table(source).column("age").null_count
    assert len(missing) == nulls > 0  # every row without an age: none scored
    said = "age: missing, and the model takes no missing value"
    assert any(r["_reasons"] == [said] for r in missing)
    assert answers.num_rows + quarantined.num_rows == ROWS
