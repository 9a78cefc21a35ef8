"""StampedMemo: what a process remembers holds exactly as long as its stamp, within its bounds."""

from __future__ import annotations

from apps.core import stamps
from apps.core.memo import StampedMemo

STAMP = "stamp:test-memo"


def test_a_remembered_value_holds_until_its_stamp_moves(db):
    memo: StampedMemo[str, str] = StampedMemo(size=10, max_age=60)
    memo.remember("a", "value", stamp=STAMP, stamp_value=stamps.current(STAMP))

    entry = memo.recall("a")
    assert entry is not None and entry.value == "value"
    assert entry.confirm({STAMP: stamps.read(STAMP)})
    assert memo.confirmed("a") == "value"

    stamps.bump(STAMP)

    assert not entry.confirm({STAMP: stamps.read(STAMP)})
    assert memo.confirmed("a") is None
    assert memo.recall("a") is None  # forgotten once found stale


def test_a_missing_or_unreadable_stamp_confirms_nothing():
    memo: StampedMemo[str, str] = StampedMemo(size=10, max_age=60)
    memo.remember("a", "value", stamp=STAMP, stamp_value="v1")
    entry = memo.recall("a")
    assert entry is not None
    assert not entry.confirm({STAMP: None})
    assert not entry.confirm({})

    memo.remember("b", "value", stamp=STAMP, stamp_value=None)  # no Redis: nothing to confirm by
    assert memo.recall("b") is None


def test_the_memo_is_bounded_by_size_least_recently_used_first_and_by_age():
    memo: StampedMemo[str, int] = StampedMemo(size=2, max_age=60)
    memo.remember("a", 1, stamp=STAMP, stamp_value="v")
    memo.remember("b", 2, stamp=STAMP, stamp_value="v")
    assert memo.recall("a") is not None  # "b" is now the least recently used
    memo.remember("c", 3, stamp=STAMP, stamp_value="v")
    assert [memo.recall(k) is not None for k in "abc"] == [True, False, True]

    aged: StampedMemo[str, int] = StampedMemo(size=2, max_age=0)
    aged.remember("a", 1, stamp=STAMP, stamp_value="v")
    assert aged.recall("a") is None
