"""The PostgreSQL URL rewrite (one function for the project database and SQL sources)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from shipyard.storage.urls import psycopg_url

_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_HOSTS = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=3).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_QUERY = st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), _TEXT, max_size=3)


@st.composite
def postgres_urls(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """A valid PostgreSQL URL, and the parts it was built from."""
    parts: dict[str, object] = {
        "username": draw(_TEXT),
        "password": draw(st.none() | _TEXT),
        "host": draw(_HOSTS),
        "port": draw(st.none() | st.integers(1, 65535)),
        "database": draw(_TEXT),
        "query": draw(_QUERY),
    }
    user = quote(str(parts["username"]), safe="")
    if parts["password"] is not None:
        user += ":" + quote(str(parts["password"]), safe="")
    host = str(parts["host"])
    host = f"[{host}]" if ":" in host else host
    if parts["port"] is not None:
        host += f":{parts['port']}"
    scheme = draw(st.sampled_from(["postgresql", "postgres"]))
    url = f"{scheme}://{user}@{host}/{quote(str(parts['database']), safe='')}"
    if parts["query"]:
        url += "?" + urlencode(parts["query"])  # type: ignore[arg-type]  # a dict[str, str]
    return url, parts


@given(postgres_urls())
def test_the_rewrite_keeps_every_part_of_a_postgres_url(
    case: tuple[str, dict[str, object]],
) -> None:
    url, parts = case
    parsed = make_url(psycopg_url(url))
    assert parsed.drivername == "postgresql+psycopg"
    assert parsed.username == parts["username"]
    assert parsed.password == parts["password"]
    assert parsed.host == parts["host"]
    assert parsed.port == parts["port"]
    assert parsed.database == parts["database"]
    assert dict(parsed.query) == parts["query"]


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "postgresql+psycopg://u@h/d", "mysql://u@h/d", "postgresql:/x"]
)
def test_other_urls_are_left_alone(url: str) -> None:
    assert psycopg_url(url) == url
