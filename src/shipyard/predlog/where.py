"""``--where``: a small filter language over the prediction log, compiled to polars.

Nothing is evaluated as Python: the text is read by the grammar below into a tree,
the tree checked against the log's columns and compiled to a polars expression::

    filter     := disjunct ("or" disjunct)*
    disjunct   := negation ("and" negation)*
    negation   := "not" negation | predicate
    predicate  := "(" filter ")"
                | operand ( ("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") operand
                          | ["not"] "in" "(" literal ("," literal)* ")"
                          | "is" ["not"] "null" )?          (a bare operand: a yes/no column)
    operand    := column | literal
    column     := name | `any text`          (a backtick inside is written twice)
    literal    := number | 'text' | "text" | true | false   (a quote inside is written twice)

Keywords are case-insensitive. A missing value is unknown, as in SQL: a comparison with
it is neither true nor false, ``not`` keeps it unknown, and a row is kept only when
the whole filter is true. Every mistake is a :class:`~shipyard.errors.QueryError`
naming the position and what was expected there; an unknown column names the columns
there are.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from shipyard.errors import ShipyardError

NUMBER, TEXT, BOOL, TIME, LIST, ANY = "number", "text", "yes/no", "time", "list", "any"
"""The kinds of column a filter can name (``ANY``: decided by the values logged)."""

COMPARISONS = {
    "=": "==",
    "==": "==",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})


class QueryError(ShipyardError, ValueError):
    """A query of the prediction log is malformed: a filter, a time, a version."""

    http_status = 400


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),-])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, text, column, word (a keyword), op, punct, end
    value: Any
    pos: int
    text: str


@dataclass(frozen=True)
class Column:
    name: str
    pos: int


@dataclass(frozen=True)
class Literal:
    value: bool | int | float | str
    pos: int


Operand = Column | Literal


@dataclass(frozen=True)
class Compare:
    op: str  # one of ==, !=, <, <=, >, >=
    left: Operand
    right: Operand
    pos: int


@dataclass(frozen=True)
class In:
    operand: Operand
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class IsNull:
    operand: Operand
    negated: bool


@dataclass(frozen=True)
class Truth:
    """A bare yes/no column (``degraded``) or literal (``true``)."""

    operand: Operand


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    inner: Node


Node = Compare | In | IsNull | Truth | And | Or | Not


def compile_where(text: str, columns: Mapping[str, str]) -> pl.Expr:
    """The polars expression of the filter ``text`` over ``columns`` (name → kind)."""
    return _Compiler(text, columns).compile(parse(text))


def referenced(node: Node) -> set[str]:
    """The columns a parsed filter names."""
    if isinstance(node, And | Or):
        return referenced(node.left) | referenced(node.right)
    if isinstance(node, Not):
        return referenced(node.inner)
    operands = [node.left, node.right] if isinstance(node, Compare) else [node.operand]
    return {o.name for o in operands if isinstance(o, Column)}


def parse(text: str) -> Node:
    """The tree of the filter ``text``; QueryError naming the position of a mistake."""
    if not isinstance(text, str):
        raise QueryError(f"a filter is text like 'amount > 1000', got {type(text).__name__}")
    parser = _Parser(text, _tokens(text))
    if parser.peek().kind == "end":
        raise QueryError(
            "the filter is empty",
            hint="write a condition like 'amount > 1000 and country = \"DE\"'",
        )
    node = parser.disjunction()
    end = parser.peek()
    if end.kind != "end":
        parser.fail(end, "'and', 'or' or the end of the filter")
    return node


def _problem(text: str, pos: int, what: str) -> QueryError:
    """A mistake of grammar: where, what was expected, what was found there."""
    near = text[pos : pos + 20] if pos < len(text) else ""
    found = repr(near) if near else "the end of the filter"
    return QueryError(
        f"cannot read the filter {text!r} at position {pos + 1}: {what}, found {found}",
        hint='write conditions like \'amount > 1000 and country in ("DE", "FR")\'; '
        "quote text with '…' and column names with spaces with `…`",
    )


def _mismatch(text: str, pos: int, what: str) -> QueryError:
    """A mistake of meaning: the filter reads, but cannot be applied to these columns."""
    return QueryError(f"the filter {text!r} at position {pos + 1}: {what}")


def _tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in "'\"`":
            value, end = _quoted(text, pos, char)
            kind = "column" if char == "`" else "text"
            tokens.append(Token(kind, value, pos, text[pos:end]))
            pos = end
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _problem(text, pos, "expected a column, a value, an operator or a parenthesis")
        kind = match.lastgroup or ""
        word = match.group()
        if kind == "number":
            tokens.append(Token("number", _number(word), pos, word))
        elif kind == "word":
            lower = word.lower()
            if lower in KEYWORDS:
                tokens.append(Token("word", lower, pos, word))
            else:
                tokens.append(Token("column", word, pos, word))
        elif kind != "space":
            tokens.append(Token(kind, word, pos, word))
        pos = match.end()
    tokens.append(Token("end", None, len(text), ""))
    return tokens


def _quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """The text between ``quote`` at ``start`` and its closing twin (doubled = one)."""
    parts: list[str] = []
    pos = start + 1
    while True:
        close = text.find(quote, pos)
        if close < 0:
            what = "a column name" if quote == "`" else "a text"
            raise _problem(text, start, f"{what} opened here is never closed with {quote}")
        parts.append(text[pos:close])
        if text.startswith(quote * 2, close):
            parts.append(quote)
            pos = close + 2
            continue
        value = "".join(parts)
        if quote == "`" and not value:
            raise _problem(text, start, "expected a column name between the backticks")
        return value, close + 1


def _number(word: str) -> int | float:
    if re.fullmatch(r"\d+", word):
        value = int(word)
        return value if value < 2**63 else float(value)
    return float(word)


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.at = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.at += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.value in words

    def fail(self, token: Token, expected: str) -> None:
        raise _problem(self.text, token.pos, f"expected {expected}")

    def expect_punct(self, char: str, expected: str) -> Token:
        token = self.take()
        if token.kind != "punct" or token.value != char:
            self.fail(token, expected)
        return token

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.keyword("or"):
            self.take()
            node = Or(node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.keyword("and"):
            self.take()
            node = And(node, self.negation())
        return node

    def negation(self) -> Node:
        if self.keyword("not"):
            self.take()
            return Not(self.negation())
        return self.predicate()

    def predicate(self) -> Node:
        token = self.peek()
        if token.kind == "punct" and token.value == "(":
            self.take()
            node = self.disjunction()
            self.expect_punct(")", "')' to close the '(' at position " + str(token.pos + 1))
            return node
        left = self.operand()
        token = self.peek()
        if token.kind == "op":
            self.take()
            return Compare(COMPARISONS[token.value], left, self.operand(), token.pos)
        if self.keyword("in") or (self.keyword("not") and self.peek(1).kind == "word"
                                  and self.peek(1).value == "in"):  # fmt: skip
            negated = self.take().value == "not"
            if negated:
                self.take()
            return In(left, self.values(), negated)
        if self.keyword("is"):
            self.take()
            negated = self.keyword("not")
            if negated:
                self.take()
            if not self.keyword("null"):
                self.fail(self.peek(), "'null' after 'is'" + (" not" if negated else ""))
            self.take()
            return IsNull(left, negated)
        return Truth(left)

    def operand(self) -> Operand:
        token = self.take()
        if token.kind == "column":
            return Column(token.value, token.pos)
        if token.kind in ("number", "text"):
            return Literal(token.value, token.pos)
        if token.kind == "punct" and token.value == "-" and self.peek().kind == "number":
            return Literal(-self.take().value, token.pos)
        if token.kind == "word" and token.value in ("true", "false"):
            return Literal(token.value == "true", token.pos)
        if token.kind == "word" and token.value == "null":
            raise _problem(
                self.text, token.pos, "null is compared with 'is null' or 'is not null', not here"
            )
        self.fail(token, "a column, a number, a 'text', true or false")
        raise AssertionError  # fail() raised

    def values(self) -> tuple[Literal, ...]:
        self.expect_punct("(", "'(' and a list of values after 'in'")
        values: list[Literal] = []
        while True:
            start = self.peek()
            value = self.operand()
            if not isinstance(value, Literal):
                self.fail(start, "a number, a 'text', true or false in the list after 'in'")
            assert isinstance(value, Literal)
            values.append(value)
            token = self.take()
            if token.kind == "punct" and token.value == ")":
                return tuple(values)
            if token.kind != "punct" or token.value != ",":
                self.fail(token, "',' or ')' in the list after 'in'")


class _Compiler:
    """Checks a tree against the columns and builds its polars expression."""

    def __init__(self, text: str, columns: Mapping[str, str]) -> None:
        self.text = text
        self.columns = columns

    def compile(self, node: Node) -> pl.Expr:
        if isinstance(node, And):
            return self.compile(node.left) & self.compile(node.right)
        if isinstance(node, Or):
            return self.compile(node.left) | self.compile(node.right)
        if isinstance(node, Not):
            return ~self.compile(node.inner)
        if isinstance(node, Compare):
            kind = self.agree(node.left, node.right, node.pos)
            left, right = self.value(node.left, kind), self.value(node.right, kind)
            if kind == BOOL and node.op not in ("==", "!="):
                raise _mismatch(self.text, node.pos, "expected '=' or '!=' between yes/no values")
            compared: pl.Expr = _OPS[node.op](left, right)
            return compared
        if isinstance(node, In):
            kind = self.kind(node.operand)
            for value in node.values:
                kind = self.agree(node.operand, value, value.pos)
            operand = self.value(node.operand, kind)
            listed = [self.literal(v, kind) for v in node.values]
            member = pl.when(operand.is_null()).then(pl.lit(None, pl.Boolean))
            inside = pl.lit(False)
            for item in listed:
                inside = inside | (operand == item)
            found = member.otherwise(inside)
            return ~found if node.negated else found
        if isinstance(node, IsNull):
            operand = self.value(node.operand, self.kind(node.operand))
            return operand.is_not_null() if node.negated else operand.is_null()
        kind = self.kind(node.operand)
        if kind not in (BOOL, ANY):
            raise _mismatch(
                self.text,
                node.operand.pos,
                f"expected a yes/no column or a comparison, not {_named(node.operand)} ({kind}) alone",
            )
        return self.value(node.operand, BOOL)

    def kind(self, operand: Operand) -> str:
        if isinstance(operand, Literal):
            if isinstance(operand.value, bool):
                return BOOL
            return TEXT if isinstance(operand.value, str) else NUMBER
        if operand.name not in self.columns:
            names = list(self.columns)
            close = difflib.get_close_matches(operand.name, names, n=1, cutoff=0.6)
            same = [n for n in names if n.casefold() == operand.name.casefold()]
            guess = (same or close)[:1]
            maybe = f" (did you mean '{guess[0]}'?)" if guess else ""
            raise QueryError(
                f"the filter {self.text!r} names column '{operand.name}' at position "
                f"{operand.pos + 1}, which the log does not have{maybe}",
                hint="columns: " + ", ".join(names),
            )
        return self.columns[operand.name]

    def agree(self, left: Operand, right: Operand, pos: int) -> str:
        """The kind both sides are compared as; QueryError when they cannot be."""
        kinds = (self.kind(left), self.kind(right))
        if LIST in kinds:
            side = left if kinds[0] == LIST else right
            raise _mismatch(self.text, side.pos, f"{_named(side)} is a list and cannot be compared")
        a, b = kinds
        if a == b or ANY in kinds:
            return b if a == ANY else a
        if TIME in kinds and TEXT in kinds:
            other = right if a == TIME else left
            if isinstance(other, Literal):
                return TIME
        raise _mismatch(
            self.text, pos, f"cannot compare {_named(left)} ({a}) with {_named(right)} ({b})"
        )

    def value(self, operand: Operand, kind: str) -> pl.Expr:
        if isinstance(operand, Column):
            return pl.col(operand.name)
        return pl.lit(self.literal(operand, kind))

    def literal(self, literal: Literal, kind: str) -> Any:
        if kind == TIME and isinstance(literal.value, str):
            return _time(self.text, literal)
        if isinstance(literal.value, float) and not math.isfinite(literal.value):
            raise _mismatch(self.text, literal.pos, "expected a finite number")
        return literal.value


def _time(text: str, literal: Literal) -> datetime:
    try:
        when = datetime.fromisoformat(str(literal.value).replace("Z", "+00:00"))
    except ValueError:
        raise _mismatch(
            text, literal.pos, "expected an ISO time like '2026-12-03T10:00' to compare with time"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _named(operand: Operand) -> str:
    if isinstance(operand, Column):
        return f"column '{operand.name}'"
    return repr(operand.value)


_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
