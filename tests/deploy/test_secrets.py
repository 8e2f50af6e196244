"""A literal secret in the project file never reaches the image, a manifest or the output.

The config loader refuses a password in ``storage.database`` before anything runs;
``build`` and ``deploy k8s`` refuse every other literal secret (webhook tokens, a
password in any URL, a value under a credential's key) naming only the key path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import champion, project_file, run
from shipyard.deploy.secrets import env_references, literal_secrets, without_comments

SECRET = "s3cr3t-value-0042"


@pytest.mark.parametrize(
    ("owner", "kind"),
    [
        (f", webhook: 'https://hooks.example.com/alert?token={SECRET}'", "a credential in the URL's query"),
        (f", webhook: 'https://bot:{SECRET}@hooks.example.com/alert'", "a password in the URL"),
        (f", slack: 'https://hooks.slack.com/services/T0/B0/{SECRET}'", "a webhook whose path is its credential"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", [["build"], ["deploy", "k8s", "--replicas", "1"]])
def test_a_literal_secret_is_refused_and_never_shown(
    tmp_path: Path, owner: str, kind: str, command: list[str]
) -> None:
    folder = project_file(tmp_path / "shop", owner=owner)
    champion(folder)
    out = folder / "out"
    result = run(folder, "-vv", *command, "--out", str(out))
    assert result.exit_code == 1, result.output
    assert f"models.risk.owner.{'slack' if 'slack' in owner else 'webhook'} holds {kind}" in (
        result.output
    )
    assert "${" in result.output  # how to write it instead
    assert SECRET not in result.output
    assert not out.exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".out")] == []


def test_a_password_in_the_database_url_never_gets_as_far(tmp_path: Path) -> None:
    folder = project_file(
        tmp_path / "shop", storage=f"storage:\n  database: postgresql://app:{SECRET}@db/shop\n"
    )
    result = run(folder, "build", "--out", str(folder / "out"))
    assert result.exit_code != 0
    assert "a password is written in the project file" in result.output
    assert SECRET not in result.output
    assert not (folder / "out").exists()


def test_references_pass_and_are_listed() -> None:
    text = (
        "project: p\n"
        "storage: {database: 'postgresql://app:${PGPASSWORD}@db/p'}\n"
        "alerting:\n"
        "  routes:\n"
        "    ops: {slack: 'https://hooks.slack.com/services/${SLACK_PATH}',"
        " webhook: 'https://h.example.com/x?token=${HOOK_TOKEN}'}\n"
        "  smtp: {host: mail, from: a@b.cd, password: '${SMTP_PASSWORD}'}\n"
        "server: {require_token: true}\n"
    )
    assert literal_secrets(text) == []
    assert env_references(text) == ["PGPASSWORD", "SLACK_PATH", "HOOK_TOKEN", "SMTP_PASSWORD"]
    assert [f.path for f in literal_secrets("x: {api_key: abc123}\n")] == ["x.api_key"]


@given(
    st.recursive(
        st.text(alphabet="ab #:'\"${}-", max_size=12),
        lambda inner: (
            st.dictionaries(st.text("abc#", min_size=1, max_size=4), inner, max_size=3)
            | st.lists(inner, max_size=3)
        ),
        max_leaves=8,
    ),
    st.lists(st.text(alphabet="x #:${}'", max_size=10), min_size=1, max_size=5),
)
def test_removing_comments_keeps_every_value(document: object, comments: list[str]) -> None:
    text = yaml.safe_dump({"doc": document}, sort_keys=False)
    lines = text.splitlines()
    # a comment on a line of its own before each line, and one after the first line
    commented = [f"# {comments[i % len(comments)]}\n{line}" for i, line in enumerate(lines)]
    commented[0] += f"  # {comments[0]}"
    stripped = without_comments("\n".join(commented) + "\n")
    assert yaml.safe_load(stripped) == {"doc": document}
