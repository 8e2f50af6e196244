"""Every command of the CLI, given wrong-but-plausible arguments, answers with one line.

The commands come from the click group itself (``all_commands``), and each one's
cases are made from the names of its arguments and options: a new command is swept
the moment it exists. The project is small and real: scikit-learn's breast cancer
and wine data as CSV files, a trained model with a champion, a model with no
versions, a dataset never ingested. A case passes when the command exits 1 or 2
with exactly one ``error:`` line, no traceback and no "internal error".

A case that still ends in an internal error in code another engineer owns is marked
``xfail(strict=True)`` with who fixes it, so it turns red the day it is fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from helpers import all_commands
from shipyard.cli import cli

PROJECT = """\
project: sweep
datasets:
  cancer:
    target: malignant
    columns:
      mean_radius: {type: float}
      mean_texture: {type: float}
      mean_area: {type: float}
      mean_smoothness: {type: float}
      malignant: {type: bool}
  wine:
    target: cultivar
    columns:
      alcohol: {type: float}
      malic_acid: {type: float}
      cultivar: {type: int}
  empty:
    target: y
    columns:
      x: {type: float}
      y: {type: bool}
models:
  tumour:
    owner: {name: onc-team, file: alerts.jsonl}
    task: binary_classification
    dataset: cancer
    features: [mean_radius, mean_texture, mean_area, mean_smoothness]
    train: sweep_model:train
    params: {C: 1.0}
    latency_budget_ms: 60000
  idle:
    owner: {name: onc-team, file: alerts.jsonl}
    task: binary_classification
    dataset: cancer
    features: [mean_radius, mean_texture, mean_area, mean_smoothness]
"""

TRAIN = """\
from sklearn.linear_model import LogisticRegression

FEATURES = ["mean_radius", "mean_texture", "mean_area", "mean_smoothness"]


def train(frame, params):
    return LogisticRegression(C=params["C"], max_iter=2000).fit(frame[FEATURES], frame["malignant"])
"""

# wrong-but-plausible values of an argument or option, by its name (data commands
# take dataset refs, the others model refs); {dir} is the sweep's scratch folder
MODEL_REFS = ["tumour@99", "tumour@x", "nosuch@1", "idle@1", "idle@champion", "cancer@1"]
DATA_REFS = ["cancer@99", "cancer@x", "nosuch@1", "empty@1", "tumour@1"]
FILES = ["{dir}/missing.csv", "{dir}/empty.csv", "{dir}/header-only.csv", "{dir}"]
WRONG: dict[str, list[str]] = {
    "model": ["nosuch", "cancer", "idle"],
    "name": ["nosuch", "cancer"],
    "models": ["nosuch", "tumour@99", "tumour@x"],
    "alert_id": ["999", "x"],
    "run_id": ["999", "x"],
    "file": FILES,
    "path": [*FILES, "{dir}/garbage.pkl"],
    "paths": FILES,
    "a": DATA_REFS,
    "b": DATA_REFS,
    "alias": ["bad alias!"],
    "directory": ["{project}"],  # a project is there already
}
# where a command's argument means something else than the name says
SPECIAL: dict[tuple[str, str], list[str]] = {
    ("data export", "file"): ["{dir}", "{dir}/no/such/folder/out.csv"],  # it writes FILE
    ("data ingest", "name"): ["nosuch", "tumour"],
    ("data log", "name"): ["nosuch", "tumour"],
    ("predictions", "name"): ["nosuch", "cancer"],  # 'idle' has an empty log: exit 0, said so
    ("models import", "path"): [  # a model's folder, as `models export` writes it
        "{dir}/missing-model",
        "{dir}/garbage.pkl",
        "{dir}/empty-folder",
        "{dir}/garbage-folder",
    ],
}
OPTIONS: dict[str, list[str]] = {  # an option of the command, and wrong values for it
    "--model": ["nosuch"],
    "--data": ["nosuch@1", "cancer@99", "cancer@x", "empty@1", "wine@1"],
    "--param": ["nosuch=1", "C"],
    "--subject": [],
    "--dir": ["{project}"],  # not empty: the demo only writes into a fresh folder
}
# what a command is given when only one of its arguments is the wrong one
GOOD = {
    "ref": "tumour@1",
    "data ref": "cancer@1",
    "name": "cancer",
    "model": "tumour",
    "models": "tumour",
    "file": "{dir}/cancer.csv",
    "path": "{dir}/garbage-folder",
    "paths": "{dir}/cancer.csv",
    "a": "cancer@1",
    "b": "cancer@1",
    "alias": "challenger",
    "alert_id": "1",
    "run_id": "1",
}
MUST = {"--dataset": "cancer", "--name": "tumour"}  # right values of required options
NO_PROJECT = {"init", "demo"}  # commands that do not open a project

# Cases that still end in an internal error in code another engineer owns: (command
# line as joined, who fixes it). Each runs as xfail(strict=True).
KNOWN: dict[str, str] = {}


def _cases() -> Iterator[tuple[str, list[str]]]:
    for name, command in sorted(all_commands(cli).items()):
        words = name.split()
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        options = {o: p for p in command.params if isinstance(p, click.Option) for o in p.opts}
        required = [
            p for p in arguments if p.required or p.name in ("models", "directory", "paths")
        ]
        must = [  # a required option gets a right value: the wrong one is elsewhere
            word
            for p in command.params
            if isinstance(p, click.Option) and p.required
            for word in (p.opts[0], MUST.get(p.opts[0], "the sweep"))
        ]

        def good(param: click.Argument, words: list[str] = words) -> str:
            if param.name == "ref":
                return GOOD["data ref" if words[0] == "data" else "ref"]
            return GOOD.get(str(param.name), "tumour")

        seen: set[tuple[str, ...]] = set()
        for index, param in enumerate(required):
            wrong = WRONG.get(str(param.name))
            if param.name == "ref":
                wrong = DATA_REFS if words[0] == "data" else MODEL_REFS
            if param.name == "name" and words[0] != "data":
                wrong = ["nosuch", "cancer", "idle"]
            wrong = SPECIAL.get((name, str(param.name)), wrong)
            for value in wrong or ["nosuch"]:
                args = [good(p) for p in required]
                args[index] = value
                if tuple(args) not in seen:
                    seen.add(tuple(args))
                    yield name, [*words, *args, *must]
        for option, values in OPTIONS.items():
            if option not in options or option in must:
                continue
            for value in values:
                yield name, [*words, *[good(p) for p in required], *must, option, value]
        if name not in NO_PROJECT:  # no project here: every command says so in one line
            yield name, ["-C", "{dir}/no-project", *words, *[good(p) for p in required], *must]
        if not required:
            yield name, [*words, "--no-such-option"]


# cases no argument name suggests: a model of the wrong task, a pickle that is no model
EXTRA = [
    ("models import", ["models", "import", "{dir}/regressor", "--name", "tumour",
                       "--trust-pickle", "--data", "cancer@1"]),
    ("models import", ["models", "import", "{dir}/garbage-folder", "--name", "tumour",
                       "--trust-pickle"]),
    ("evaluate", ["evaluate", "tumour@champion", "--data", "wine@1"]),
]  # fmt: skip
CASES = [*_cases(), *EXTRA]


def _param(name: str, args: list[str]) -> object:
    line = " ".join(args)
    marks = []
    if line in KNOWN:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[line]))
    return pytest.param(args, id=line, marks=marks)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A small real project: data ingested, ``tumour`` trained and champion, ``idle`` empty."""
    import pickle

    import pandas as pd
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.linear_model import LinearRegression

    root = tmp_path_factory.mktemp("sweep")
    project, scratch = root / "project", root / "scratch"
    project.mkdir()
    scratch.mkdir()
    (project / "shipyard.yaml").write_text(PROJECT)
    (project / "sweep_model.py").write_text(TRAIN)
    cancer = load_breast_cancer(as_frame=True).frame
    cancer = pd.DataFrame(
        {
            "mean_radius": cancer["mean radius"],
            "mean_texture": cancer["mean texture"],
            "mean_area": cancer["mean area"],
            "mean_smoothness": cancer["mean smoothness"],
            "malignant": cancer["target"] == 0,
        }
    )
    cancer.to_csv(scratch / "cancer.csv", index=False)
    wine = load_wine(as_frame=True).frame
    pd.DataFrame(
        {"alcohol": wine["alcohol"], "malic_acid": wine["malic_acid"], "cultivar": wine["target"]}
    ).to_csv(scratch / "wine.csv", index=False)
    (scratch / "empty.csv").write_text("")
    (scratch / "header-only.csv").write_text(",".join(cancer.columns) + "\n")
    (scratch / "garbage.pkl").write_bytes(b"not a model at all\n")
    (scratch / "no-project").mkdir()
    (scratch / "empty-folder").mkdir()
    regressor = scratch / "regressor"  # a regressor handed over as the classifier 'tumour'
    regressor.mkdir()
    (regressor / "MLmodel").write_text("flavors: {sklearn: {pickled_model: model.pkl}}\n")
    features = ["mean_radius", "mean_texture", "mean_area", "mean_smoothness"]
    fitted = LinearRegression().fit(cancer[features], cancer["malignant"].astype(float))
    (regressor / "model.pkl").write_bytes(pickle.dumps(fitted))
    (scratch / "garbage-folder").mkdir()
    (scratch / "garbage-folder" / "MLmodel").write_text(
        "flavors: {sklearn: {pickled_model: model.pkl}}\n"
    )
    (scratch / "garbage-folder" / "model.pkl").write_bytes(b"not a pickle")
    for args in (
        ["data", "ingest", "cancer", str(scratch / "cancer.csv")],
        ["data", "ingest", "wine", str(scratch / "wine.csv")],
        ["train", "tumour"],
        ["promote", "tumour@1", "--force", "--reason", "the sweep needs a champion"],
    ):
        result = CliRunner().invoke(cli, ["-C", str(project), *args])
        assert result.exit_code == 0, (args, result.output)
    return {"project": str(project), "dir": str(scratch)}


def test_every_command_is_swept() -> None:
    swept = {name for name, _ in CASES}
    assert swept == set(all_commands(cli))


@pytest.mark.parametrize("args", [_param(name, args) for name, args in CASES])
def test_a_wrong_argument_gets_one_line_and_exit_1_or_2(
    sweep: dict[str, str], args: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    line = [a.format(**sweep) for a in args]
    before = [] if line[0] == "-C" else ["-C", sweep["project"]]
    with caplog.at_level(logging.WARNING):  # what the CLI prints on stderr, as pytest keeps it
        result = CliRunner().invoke(cli, [*before, *line])
    output = result.output
    assert "Traceback" not in output and "internal error" not in output, output
    assert "Traceback" not in caplog.text, caplog.text
    assert result.exit_code in (1, 2), f"exit {result.exit_code}: {output}"
    errors = [ln for ln in output.splitlines() if ln.strip().lower().startswith("error")]
    assert len(errors) == 1, output
