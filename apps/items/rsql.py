"""RSQL filters over list elements.

The grammar is the reference RSQL grammar (jirutka/rsql-parser), plus our ``=lk=``::

    or          := and (or_sep and)*
    and         := constraint (and_sep constraint)*
    constraint  := "(" or ")" | selector operator arguments
    and_sep     := ";" | " and "
    or_sep      := "," | " or "
    operator    := "=" [a-zA-Z]* "=" | "!=" | "<" | "<=" | ">" | ">="
    arguments   := "(" value (or_sep value)* ")" | value
    selector    := unreserved
    value       := unreserved | '"' (escaped | [^"\\])* '"' | "'" (escaped | [^'\\])* "'"
    unreserved  := one or more characters other than  " ' ( ) ; , = < > ! ~  and space
    escaped     := "\\" any character                 (stands for that character)

AND binds tighter than OR; parentheses group. Spaces between tokens are ignored, and so is a
tab that does not touch an unquoted word; as in the reference, tabs and line breaks are not
reserved, so next to a word they are part of it. ``and`` and ``or`` are lower case and need a
space on both sides (``a==1 and b==2``); as names or values they are ordinary words.

The operators are ``==``, ``!=``, ``=lt=`` or ``<``, ``=le=`` or ``<=``, ``=gt=`` or ``>``,
``=ge=`` or ``>=``, ``=in=``, ``=out=`` and ``=lk=``; any other ``=word=`` is refused.
``=in=`` and ``=out=`` take one or more values, the others exactly one.

Selectors are dotted paths into each element (``fields.status.name``). Values compare as numbers
when both sides are numbers, as instants when both are ISO 8601 dates, else as text; a missing
or null value equals ``null``. ``=lk=`` matches the whole value with ``*`` standing for any run
of characters, ignoring case. A selector whose value is a list matches when any of its members
does.

Cost: a filter has at most 2,000 characters and at most 20 nested groups (else 400
``invalid_filter``); it is read in one pass and compiled once, and evaluating a comparison on an
element is linear in the length of its value: ``=lk=`` uses no regular expression, so nothing
backtracks. Errors name the 1-based character position.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError
from apps.items.rendering import text_of
from apps.outbound.paths import get_path

Predicate = Callable[[Any], bool]
OPERATORS = ("==", "!=", "=gt=", "=ge=", "=lt=", "=le=", "=in=", "=out=", "=lk=")
_ALTERNATIVES = {"<": "=lt=", "<=": "=le=", ">": "=gt=", ">=": "=ge="}
_MULTI_VALUE = ("=in=", "=out=")
# Characters an unquoted selector or value may not hold (the reference grammar's set).
_RESERVED = frozenset("\"'();,=<>!~ ")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MAX_LENGTH = 2000
_MAX_DEPTH = 20


class InvalidFilter(ApplicationError):
    code = ErrorCode.INVALID_FILTER
    status = 400

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position}).", details={"position": position})
        self.position = position


# ---------------------------------------------------------------------------------------------
# Tokens


@dataclass(slots=True)
class _Token:
    kind: str  # "(" ")" "and" "or" "op" "word" "string" "end"
    text: str  # the operator (alternatives normalised), the word, or the unescaped string
    position: int  # 1-based
    shown: str  # as written, for messages


def _unknown_operator(shown: str, position: int) -> InvalidFilter:
    known = ", ".join((*OPERATORS, *_ALTERNATIVES))
    return InvalidFilter(f"Unknown operator {shown!r}; use one of {known}", position)


def _tokens(source: str) -> list[_Token]:
    """One left-to-right pass; where two tokens could start at a character, the longer wins."""
    out: list[_Token] = []
    append = out.append
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch == " ":
            if source.startswith(" and ", i):
                append(_Token("and", ";", i + 2, "and"))
                i += 5
            elif source.startswith(" or ", i):
                append(_Token("or", ",", i + 2, "or"))
                i += 4
            else:
                i += 1
        elif ch in "();,":
            append(_Token({";": "and", ",": "or"}.get(ch, ch), ch, i + 1, ch))
            i += 1
        elif ch == "=":
            j = i + 1
            while j < n and source[j] in _ALPHA:
                j += 1
            if j >= n or source[j] != "=":
                raise _unknown_operator(source[i:j], i + 1)
            op = source[i : j + 1]
            if op not in OPERATORS:
                raise _unknown_operator(op, i + 1)
            append(_Token("op", op, i + 1, op))
            i = j + 1
        elif ch == "!":
            if not source.startswith("!=", i):
                raise _unknown_operator("!", i + 1)
            append(_Token("op", "!=", i + 1, "!="))
            i += 2
        elif ch in "<>":
            op = source[i : i + 2] if source.startswith("=", i + 1) else ch
            append(_Token("op", _ALTERNATIVES[op], i + 1, op))
            i += len(op)
        elif ch in "\"'":
            start, i = i, i + 1
            chars: list[str] = []
            while i < n and source[i] != ch:
                if source[i] == "\\":
                    i += 1
                    if i >= n:
                        break
                chars.append(source[i])
                i += 1
            if i >= n:
                raise InvalidFilter("Unclosed quote", start + 1)
            i += 1
            append(_Token("string", "".join(chars), start + 1, source[start:i]))
        elif ch == "~":
            raise InvalidFilter("Unexpected '~' (quote a value that holds it)", i + 1)
        elif ch == "\t" and (i + 1 >= n or source[i + 1] in _RESERVED):
            i += 1  # a tab on its own between tokens is skipped
        else:
            start = i
            while i < n and source[i] not in _RESERVED:
                i += 1
            word = source[start:i]
            append(_Token("word", word, start + 1, word))
    append(_Token("end", "", n + 1, "the end of the filter"))
    return out


# ---------------------------------------------------------------------------------------------
# Values

# Unambiguous, so a failed match gives back one character at a time: linear in the text.
_NUMBER = re.compile(r"\s*-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*")
_DATE_LIKE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_LONGEST_DATE = 64


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    numeric = isinstance(value, int | float) or (
        isinstance(value, str) and _NUMBER.fullmatch(value) is not None
    )
    if not numeric:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > _LONGEST_DATE:
        return None
    text = value.strip()
    if not _DATE_LIKE.fullmatch(text):
        return None
    text = text.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        parsed = datetime(day.year, day.month, day.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(slots=True)
class _Argument:
    text: str
    number: float | None
    instant: datetime | None


def _argument(text: str) -> _Argument:
    return _Argument(text, _number(text), _instant(text))


def _orderer(args: list[_Argument]) -> Callable[[Any, _Argument], int | None]:
    """compare(left, argument) -> -1, 0 or 1; None when left is None. Numbers when both sides
    are numbers, else instants when both are dates, else text. A conversion of ``left`` that
    no argument could use is skipped."""
    numbers = any(a.number is not None for a in args)
    instants = any(a.instant is not None for a in args)

    def compare(left: Any, arg: _Argument) -> int | None:
        if left is None:
            return None
        if numbers and arg.number is not None:
            a = _number(left)
            if a is not None:
                b = arg.number
                return (a > b) - (a < b)
        if instants and arg.instant is not None:
            da = _instant(left)
            if da is not None:
                db = arg.instant
                return (da > db) - (da < db)
        ta = left if isinstance(left, str) else text_of(left)
        tb = arg.text
        return (ta > tb) - (ta < tb)

    return compare


def _member_test(op: str, args: list[_Argument]) -> Callable[[Any], bool]:
    """Whether one value (not a list) satisfies the comparison; != and =out= are the negations
    of == and =in=, applied by the caller."""
    if op == "=lk=":
        return _like(args[0].text)
    if op not in ("==", "!=", "=in=", "=out="):
        compare, arg = _orderer(args), args[0]
        wanted = {"=gt=": (1,), "=ge=": (0, 1), "=lt=": (-1,), "=le=": (-1, 0)}[op]
        return lambda value: compare(value, arg) in wanted
    null = any(a.text == "null" for a in args)
    if len(args) == 1:
        compare, arg = _orderer(args), args[0]
        return lambda value: null if value is None else compare(value, arg) == 0

    numbers = any(a.number is not None for a in args)
    instants = any(a.instant is not None for a in args)
    ordered = tuple(args)

    def equal_any(value: Any) -> bool:
        if value is None:
            return null
        # Convert the value once, whatever the number of arguments.
        number = _number(value) if numbers else None
        instant = _instant(value) if instants else None
        text = value if isinstance(value, str) else text_of(value)
        for arg in ordered:
            if number is not None and arg.number is not None:
                if number == arg.number:
                    return True
            elif instant is not None and arg.instant is not None:
                if instant == arg.instant:
                    return True
            elif text == arg.text:
                return True
        return False

    return equal_any


def _like(pattern: str) -> Callable[[Any], bool]:
    """Whole-value match, ``*`` = any run of characters, ignoring case, in linear time.

    The pattern is split on ``*`` once. The first piece must begin the value and the last must
    end it; the pieces in between are found in order with ``str.find``, each at its leftmost
    place after the end of the one before (the leftmost place never loses a match that a later
    one would allow). Successive searches cover disjoint stretches of the value and none is
    retried, so there is no backtracking: the cost is one pass over the value plus one search
    call per piece.
    """
    pieces = pattern.casefold().split("*")
    if len(pieces) == 1:
        exact = pieces[0]
        return lambda value: value is not None and _folded(value) == exact
    head, tail = pieces[0], pieces[-1]
    middle = tuple((piece, len(piece)) for piece in pieces[1:-1] if piece)
    shortest = len(head) + len(tail) + sum(size for _, size in middle)
    if not shortest:
        return lambda value: value is not None  # only stars
    if not middle:

        def ends(value: Any) -> bool:
            if value is None:
                return False
            text = (value if isinstance(value, str) else text_of(value)).casefold()
            return len(text) >= shortest and text.startswith(head) and text.endswith(tail)

        return ends

    start, tail_size = len(head), len(tail)

    def pieces_in_order(value: Any) -> bool:
        if value is None:
            return False
        text = (value if isinstance(value, str) else text_of(value)).casefold()
        if len(text) < shortest or not (text.startswith(head) and text.endswith(tail)):
            return False
        # Searching past the window is harmless: a leftmost match that crosses its end means
        # there is none inside it, which the final check sees.
        at, find = start, text.find
        for piece, size in middle:
            at = find(piece, at)
            if at < 0:
                return False
            at += size
        return at <= len(text) - tail_size

    return pieces_in_order


def _folded(value: Any) -> str:
    return (value if isinstance(value, str) else text_of(value)).casefold()


# ---------------------------------------------------------------------------------------------
# Compiled predicates


def _getter(selector: str) -> Callable[[Any], Any]:
    """get_path(element, selector), with the common case (objects all the way) inlined."""
    parts = tuple(selector.split("."))
    missing = object()

    if len(parts) == 1:
        key = parts[0]

        def get_one(element: Any) -> Any:
            if isinstance(element, dict):
                return element.get(key)
            return get_path(element, selector)

        return get_one

    def get(element: Any) -> Any:
        current = element
        for part in parts:
            if not isinstance(current, dict):
                return get_path(element, selector)
            current = current.get(part, missing)
            if current is missing:
                return None
        return current

    return get


def _comparison(selector: str, op: str, texts: list[str]) -> Predicate:
    get = _getter(selector)
    member = _member_test(op, [_argument(text) for text in texts])
    negate = op in ("!=", "=out=")

    def test(element: Any) -> bool:
        found = get(element)
        if isinstance(found, list):
            for value in found:
                if member(value):
                    return not negate
            return negate
        return member(found) != negate

    return test


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 2:
        first, second = parts
        return lambda element: first(element) and second(element)
    ordered = tuple(parts)

    def every(element: Any) -> bool:
        for part in ordered:  # noqa: SIM110 - a plain loop: all() over a generator costs more
            if not part(element):
                return False
        return True

    return every


def _any(parts: list[Predicate]) -> Predicate:
    if len(parts) == 2:
        first, second = parts
        return lambda element: first(element) or second(element)
    ordered = tuple(parts)

    def some(element: Any) -> bool:
        for part in ordered:  # noqa: SIM110 - a plain loop: any() over a generator costs more
            if part(element):
                return True
        return False

    return some


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
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
            raise InvalidFilter(f"Unexpected {self.current.shown!r}", self.current.position)
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.current.kind == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _any(parts)

    def and_expr(self) -> Predicate:
        parts = [self.constraint()]
        while self.current.kind == "and":
            self.take()
            parts.append(self.constraint())
        return parts[0] if len(parts) == 1 else _all(parts)

    def constraint(self) -> Predicate:
        token = self.current
        if token.kind == "(":
            self.take()
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise InvalidFilter(
                    f"The filter is nested deeper than {_MAX_DEPTH} groups", token.position
                )
            inner = self.or_expr()
            if self.current.kind != ")":
                raise InvalidFilter("Expected ')'", self.current.position)
            self.take()
            self.depth -= 1
            return inner
        if token.kind != "word":
            if token.kind == "end":
                raise InvalidFilter("Expected a comparison", token.position)
            hint = " (field names are not quoted)" if token.kind == "string" else ""
            raise InvalidFilter(f"Expected a field name{hint}", token.position)
        selector = self.take().text
        op = self.current
        if op.kind != "op":
            raise InvalidFilter(f"Expected an operator after {selector!r}", op.position)
        self.take()
        args = self.arguments()
        if op.text not in _MULTI_VALUE and len(args) != 1:
            raise InvalidFilter(f"{op.shown} takes one value", op.position)
        return _comparison(selector, op.text, args)

    def arguments(self) -> list[str]:
        if self.current.kind != "(":
            return [self.value()]
        self.take()
        values = [self.value()]
        while self.current.kind == "or":
            self.take()
            values.append(self.value())
        if self.current.kind != ")":
            raise InvalidFilter("Expected ',' or ')' in the value list", self.current.position)
        self.take()
        return values

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
    tokens = _tokens(source)
    if tokens[0].kind == "end":
        raise InvalidFilter("The filter is empty", 1)
    return _Parser(tokens).parse()
