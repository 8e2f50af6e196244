"""Literal secrets in the project file: found before the file goes into an image or a manifest.

The project file is copied into the image and into a ConfigMap, which many people
can read. A secret in it must be a reference to an environment variable
(``${PGPASSWORD}``), set at run time from a Kubernetes Secret. The config loader
already refuses a password in ``storage.database``; this looks at every other value:

- a URL with a password in its ``user:password@`` part;
- a URL whose query names a credential (``?token=…``, ``&api_key=…``, ``sig=…``);
- a Slack-style webhook, whose path is the credential;
- a value under a key that names a credential (``password``, ``token``, ``api_key``…).

A finding names the key path and what kind of secret it is, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ONLY_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_SECRET_WORDS = re.compile(
    r"(^|[_-])(password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|sig|signature|auth|credentials?)$",
    re.IGNORECASE,
)
_SECRET_PATHS = (re.compile(r"^hooks\.slack\.com$", re.IGNORECASE), "/services/")


@dataclass(frozen=True)
class Finding:
    """A literal secret at ``path`` (``alerting.routes.ops.slack``): ``what`` it looks like."""

    path: str
    what: str


def without_comments(text: str) -> str:
    """Project-file ``text`` (valid YAML) with its comments removed, everything else as
    written: a comment can hold anything (an old password, a ``${VAR}`` no one sets),
    and what goes into an image or a ConfigMap is what the loader reads, nothing more.

    A ``#`` starts a comment when it is outside every scalar (quoted, plain or block)
    and at a line's start or after a space, as YAML says.
    """
    spans = [
        (token.start_mark.index, token.end_mark.index)
        for token in yaml.scan(text)
        if isinstance(token, yaml.ScalarToken)
    ]
    kept: list[str] = []
    position, span = 0, 0
    for line in text.splitlines(keepends=True):
        end = position + len(line)
        cut = None
        for offset, char in enumerate(line):
            if char != "#":
                continue
            index = position + offset
            while span < len(spans) and spans[span][1] <= index:
                span += 1
            inside = span < len(spans) and spans[span][0] <= index < spans[span][1]
            if not inside and (offset == 0 or line[offset - 1] in " \t"):
                cut = offset
                break
        position = end
        if cut is None:
            kept.append(line)
        elif line[:cut].strip():
            kept.append(line[:cut].rstrip() + "\n")
    return "".join(kept)


def literal_secrets(text: str) -> list[Finding]:
    """Every literal secret in project-file ``text`` (already valid YAML)."""
    found: list[Finding] = []
    _walk(yaml.safe_load(text), (), found)
    return found


def env_references(text: str) -> list[str]:
    """The environment variables ``${VAR}`` the project file refers to, in order, once each."""
    return list(dict.fromkeys(ENV_REFERENCE.findall(text)))


def _walk(node: Any, path: tuple[str, ...], found: list[Finding]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _walk(value, (*path, str(key)), found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, (*path, str(i)), found)
    elif isinstance(node, str):
        what = _secret_in(node, path[-1] if path else "")
        if what:
            found.append(Finding(".".join(path), what))


def _secret_in(value: str, key: str) -> str | None:
    if _ONLY_REFERENCE.match(value.strip()):
        return None
    if "://" in value:
        what = _secret_in_url(value)
        if what:
            return what
    if _SECRET_WORDS.search(key) and value.strip():
        return f"a literal value under '{key}'"
    return None


def _secret_in_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        password = parts.password
        host = parts.hostname or ""
    except ValueError:
        return None
    if password and not password.startswith("${"):
        return "a password in the URL"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_WORDS.search(name) and value and not ENV_REFERENCE.search(value):
            return f"a credential in the URL's query ('{name}=')"
    host_rule, path_prefix = _SECRET_PATHS
    if host_rule.match(host) and parts.path.startswith(path_prefix) and "${" not in parts.path:
        return "a webhook whose path is its credential"
    return None
