"""RSQL: operator by operator, precedence, quoting, dates, lists and errors."""

import pytest

from apps.items.rsql import InvalidFilter, parse

ELEMENTS = [
    {"id": 1, "name": "Alpha", "price": 10, "tags": ["red", "blue"], "created": "2024-01-05",
     "owner": {"name": "Ann"}, "active": True, "note": "a,b;c"},
    {"id": 2, "name": "beta", "price": "9.5", "tags": [], "created": "2024-03-01T10:00:00Z",
     "owner": {"name": "Bob"}, "active": False},
    {"id": 3, "name": "Gamma ray", "price": 100, "tags": ["red"], "created": "2023-12-31T23:59:59+01:00",
     "owner": None, "active": True},
]  # fmt: skip


def ids(expression):
    predicate = parse(expression)
    return [e["id"] for e in ELEMENTS if predicate(e)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("id==1", [1]),
        ("id!=1", [2, 3]),
        ("price=gt=10", [3]),
        ("price=ge=10", [1, 3]),
        ("price=lt=10", [2]),  # "9.5" compares as a number
        ("price=le=10", [1, 2]),
        ("id=in=(1,3)", [1, 3]),
        ("id=out=(1,3)", [2]),
        ("name=lk=*ray", [3]),
        ("name=lk=A*", [1]),  # case-insensitive
        ("name=lk=*e*", [2]),
        ("name==Alpha", [1]),
        ("name==alpha", []),  # == is case-sensitive
        ("owner.name==Bob", [2]),
        ("owner.name!=Bob", [1, 3]),  # missing counts as not equal
        ("active==true", [1, 3]),
        ("tags==red", [1, 3]),  # any member of a list
        ("tags=in=(blue)", [1]),
        ("missing==x", []),
        ("owner==null", [3]),
    ],
)
def test_operators(expression, expected):
    assert ids(expression) == expected


def test_and_binds_tighter_than_or():
    assert ids("id==1,id==2;active==true") == [1]  # 1 or (2 and active)
    assert ids("(id==1,id==2);active==true") == [1]
    assert ids("(id==1,id==2);active==false") == [2]
    assert ids("id==3,id==2;name==beta") == [2, 3]


def test_quoted_values_may_hold_reserved_characters():
    assert ids('note=="a,b;c"') == [1]
    assert ids("note=='a,b;c'") == [1]
    assert ids('name=="Gamma ray"') == [3]
    assert ids(r'name=="Gam\"ma"') == []


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("created=lt=2024-01-01", [3]),
        ("created=ge=2024-01-05", [1, 2]),
        ("created=gt=2024-01-05T00:00:00Z", [2]),
        ("created=le=2023-12-31T22:59:59Z", [3]),  # the +01:00 instant, compared by value
        ("created==2024-03-01T11:00:00+01:00", [2]),
    ],
)
def test_iso_dates_compare_by_instant(expression, expected):
    assert ids(expression) == expected


def test_numbers_compare_by_value_not_as_text():
    assert ids("price=gt=9") == [1, 2, 3]
    assert ids("price=lt=100.0") == [1, 2]


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        ("", "empty", 1),
        ("id", "Expected an operator", 3),
        ("id=", "Unknown operator", 3),
        ("id=xx=1", "Unknown operator '=xx='", 3),
        ("id==", "Expected a value", 5),
        ("id==1;", "Expected a comparison", 7),
        ("id==1,", "Expected a comparison", 7),
        ("(id==1", "Expected ')'", 7),
        ("id==1)", "Unexpected ')'", 6),
        ('name=="open', "Unclosed quote", 7),
        ("id=in=()", "Expected a value", 8),
        ("id=in=(1,2", "Expected ',' or ')'", 11),
        ("id==(1,2)", "takes one value", 3),
        ("==1", "Expected a field name", 1),
    ],
)
def test_errors_name_the_position(expression, message, position):
    with pytest.raises(InvalidFilter) as info:
        parse(expression)
    assert message in info.value.message
    assert info.value.details == {"position": position}
    assert info.value.code == "invalid_filter" and info.value.status == 400


def test_deep_nesting_and_long_filters_are_refused():
    with pytest.raises(InvalidFilter, match="nested"):
        parse("(" * 30 + "id==1" + ")" * 30)
    with pytest.raises(InvalidFilter, match="longer"):
        parse("id==1;" * 500)
