"""RSQL filters over list elements.

Grammar (AND binds tighter than OR; parentheses group)::

    or         := and ("," and)*
    and        := constraint (";" constraint)*
    constraint := "(" or ")" | selector operator arguments
    operator   := "==" | "!=" | "=gt=" | "=ge=" | "=lt=" | "=le=" | "=in=" | "=out=" | "=lk="
    arguments  := value | "(" value ("," value)* ")"
    value      := unquoted | "double quoted" | 'single quoted'     (backslash escapes in quotes)

Selectors are dotted paths into each element (``fields.status.name``). Values compare as numbers
when both sides are numbers, as instants when both are ISO 8601 dates, else as text.
``=lk=`` matches with ``*`` as a wildcard, ignoring case. A selector whose value is a list
matches when any of its members does. Errors name the 1-based character position.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from apps.core.errors import ApplicationError
from apps.items.templates import text_of
from apps.outbound.paths import get_path

Predicate = Callable[[Any], bool]
OPERATORS = ("==", "!=", "=gt=", "=ge=", "=lt=", "=le=", "=in=", "=out=", "=lk=")
_RESERVED = set("()=!<>;,\"' \t\r\n")
_MAX_LENGTH = 2000
_MAX_DEPTH = 20


class InvalidFilter(ApplicationError):
    code = "invalid_filter"
    status = 400

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position}).", details={"position": position})
        self.position = position


@dataclass
class _Token:
    kind: str  # "(" ")" ";" "," "op" "word" "string" "end"
    text: str
    position: int  # 1-based


def _tokens(source: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch in "();,":
            out.append(_Token(ch, ch, i + 1))
            i += 1
            continue
        if ch in "=!":
            for op in OPERATORS:
                if source.startswith(op, i):
                    out.append(_Token("op", op, i + 1))
                    i += len(op)
                    break
            else:
                match = re.match(r"=[a-z]*=?", source[i:])
                shown = match.group(0) if match else ch
                raise InvalidFilter(f"Unknown operator {shown!r}", i + 1)
            continue
        if ch in "\"'":
            start, quote, i = i, ch, i + 1
            chars = []
            while i < n and source[i] != quote:
                if source[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(source[i])
                i += 1
            if i >= n:
                raise InvalidFilter("Unclosed quote", start + 1)
            out.append(_Token("string", "".join(chars), start + 1))
            i += 1
            continue
        start = i
        while i < n and source[i] not in _RESERVED:
            i += 1
        if i == start:
            raise InvalidFilter(f"Unexpected character {ch!r}", i + 1)
        out.append(_Token("word", source[start:i], start + 1))
    out.append(_Token("end", "", n + 1))
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


_DATE_LIKE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _DATE_LIKE.match(value.strip()):
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        parsed = datetime(day.year, day.month, day.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(left: Any, right: str) -> int | None:
    """-1, 0 or 1; None when the two cannot be ordered."""
    if left is None:
        return None
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    da, db = _instant(left), _instant(right)
    if da is not None and db is not None:
        return (da > db) - (da < db)
    ta = text_of(left)
    return (ta > right) - (ta < right)


def _equal(left: Any, right: str) -> bool:
    if left is None:
        return right == "null"
    return _compare(left, right) == 0


def _like(left: Any, pattern: str) -> bool:
    if left is None:
        return False
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text_of(left), flags=re.IGNORECASE | re.DOTALL) is not None


def _candidates(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _comparison(selector: str, op: str, args: list[str]) -> Predicate:
    def test(element: Any) -> bool:
        found = get_path(element, selector)
        values = _candidates(found)
        if op == "==":
            return any(_equal(v, args[0]) for v in values)
        if op == "!=":
            return not any(_equal(v, args[0]) for v in values)
        if op == "=in=":
            return any(_equal(v, a) for v in values for a in args)
        if op == "=out=":
            return not any(_equal(v, a) for v in values for a in args)
        if op == "=lk=":
            return any(_like(v, args[0]) for v in values)
        wanted = {"=gt=": (1,), "=ge=": (0, 1), "=lt=": (-1,), "=le=": (-1, 0)}[op]
        return any(_compare(v, args[0]) in wanted for v in values)

    return test


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.current.kind != "end":
            raise InvalidFilter(f"Unexpected {self.current.text!r}", self.current.position)
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.current.kind == ",":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.constraint()]
        while self.current.kind == ";":
            self.take()
            parts.append(self.constraint())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def constraint(self) -> Predicate:
        token = self.current
        if token.kind == "(":
            self.take()
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise InvalidFilter("Too deeply nested", token.position)
            inner = self.or_expr()
            if self.current.kind != ")":
                raise InvalidFilter("Expected ')'", self.current.position)
            self.take()
            self.depth -= 1
            return inner
        if token.kind != "word":
            expected = "a field name" if token.kind != "end" else "a comparison"
            raise InvalidFilter(f"Expected {expected}", token.position)
        selector = self.take().text
        op = self.current
        if op.kind != "op":
            raise InvalidFilter(f"Expected an operator after {selector!r}", op.position)
        self.take()
        args = self.arguments(op)
        if op.text in ("=in=", "=out=") and not args:
            raise InvalidFilter(f"{op.text} needs at least one value", op.position)
        if op.text not in ("=in=", "=out=") and len(args) != 1:
            raise InvalidFilter(f"{op.text} takes one value", op.position)
        return _comparison(selector, op.text, args)

    def arguments(self, op: _Token) -> list[str]:
        token = self.current
        if token.kind == "(":
            self.take()
            values = [self.value()]
            while self.current.kind == ",":
                self.take()
                values.append(self.value())
            if self.current.kind != ")":
                raise InvalidFilter("Expected ',' or ')' in the value list", self.current.position)
            self.take()
            return values
        return [self.value()]

    def value(self) -> str:
        token = self.current
        if token.kind in ("word", "string"):
            self.take()
            return token.text
        raise InvalidFilter("Expected a value", token.position)


def parse(source: str) -> Predicate:
    """Compile an RSQL expression into a predicate over elements; InvalidFilter on errors."""
    if len(source) > _MAX_LENGTH:
        raise InvalidFilter(f"The filter is longer than {_MAX_LENGTH} characters", _MAX_LENGTH + 1)
    if not source.strip():
        raise InvalidFilter("The filter is empty", 1)
    return _Parser(source).parse()
