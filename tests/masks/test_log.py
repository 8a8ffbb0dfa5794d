"""Undo / redo are log entries, resolved per person."""
import pytest

from masks.errors import OpError
from masks.log import LogEntry, active_ops, redo_target, undo_target


def op(seq, author, name=None):
    return LogEntry(seq, author, "op", op=name or f"op{seq}")


def undo(seq, author, target):
    return LogEntry(seq, author, "undo", target=target)


def redo(seq, author, target):
    return LogEntry(seq, author, "redo", target=target)


def test_active_ops_in_seq_order_without_undone():
    log = [op(3, "b"), op(1, "a"), op(2, "a"), undo(4, "a", 2)]
    assert active_ops(log) == ["op1", "op3"]
    assert active_ops(log + [redo(5, "a", 2)]) == ["op1", "op2", "op3"]


def test_undo_targets_only_own_last_active_op():
    log = [op(1, "a"), op(2, "b"), op(3, "a"), op(4, "b")]
    assert undo_target(log, "a") == 3
    assert undo_target(log, "b") == 4
    log.append(undo(5, "a", 3))
    assert undo_target(log, "a") == 1
    assert undo_target(log, "b") == 4          # a's undo did not touch b
    log.append(undo(6, "a", 1))
    assert undo_target(log, "a") is None
    assert active_ops(log) == ["op2", "op4"]


def test_redo_in_reverse_undo_order_and_cleared_by_a_new_op():
    log = [op(1, "a"), op(2, "a"), undo(3, "a", 2), undo(4, "a", 1)]
    assert redo_target(log, "a") == 1
    log.append(redo(5, "a", 1))
    assert redo_target(log, "a") == 2
    log.append(redo(6, "a", 2))
    assert redo_target(log, "a") is None
    log += [undo(7, "a", 2)]
    assert redo_target(log, "a") == 2
    log += [op(8, "a")]
    assert redo_target(log, "a") is None       # something of theirs was done after the undo


def test_someone_elses_op_does_not_clear_my_redo():
    log = [op(1, "a"), undo(2, "a", 1), op(3, "b")]
    assert redo_target(log, "a") == 1
    assert redo_target(log, "b") is None
    assert undo_target(log, "b") == 3


def test_concurrent_edits_interleaved():
    log = [op(1, 7), op(2, 9), op(3, 7), op(4, 9), undo(5, 9, 4), undo(6, 7, 3)]
    assert active_ops(log) == ["op1", "op2"]
    assert undo_target(log, 7) == 1 and undo_target(log, 9) == 2
    assert redo_target(log, 7) == 3 and redo_target(log, 9) == 4


def test_bad_targets_refused():
    with pytest.raises(OpError, match="target"):
        active_ops([op(1, "a"), undo(2, "a", 5)])
    with pytest.raises(OpError, match="target"):
        active_ops([undo(1, "a", 2), op(2, "a")])
    with pytest.raises(OpError, match="seq"):
        active_ops([op(1, "a"), op(1, "b")])
    with pytest.raises(OpError, match="kind"):
        active_ops([LogEntry(1, "a", "delete", target=1)])
