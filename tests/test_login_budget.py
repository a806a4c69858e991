"""The login budget's bookkeeping (pure logic; the budget against a real server is in
tests/test_sessions.py and tests/test_e2e_isolation.py)."""

from __future__ import annotations

import pytest

from mail.login_budget import LoginBudget, LoginLimitError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_logins_leave_the_window_one_by_one():
    clock = Clock()
    budget = LoginBudget(logins=2, window_seconds=60, clock=clock)
    budget.take("a", "imap.example.org")
    clock.now += 30
    budget.take("a", "imap.example.org")
    with pytest.raises(LoginLimitError) as raised:
        budget.take("a", "imap.example.org")
    assert raised.value.wait_seconds == pytest.approx(30)
    clock.now += 31  # the first login has left the window, the second has not
    budget.take("a", "imap.example.org")
    with pytest.raises(LoginLimitError):
        budget.take("a", "imap.example.org")


def test_an_account_with_no_login_in_the_window_is_not_kept():
    """Thousands of connected accounts log in once: their records go once the window
    has passed, so a connection that stays up costs the budget nothing."""
    clock = Clock()
    budget = LoginBudget(logins=10, window_seconds=60, clock=clock)
    for account in range(100):
        budget.take(account, "imap.example.org")
    assert budget.tracked() == 100
    clock.now += 59
    budget.take("late", "imap.example.org")  # within the window: nothing is dropped yet
    assert budget.tracked() == 101
    clock.now += 2  # the hundred logins are 61 s old; "late" is 2 s old
    budget.take("again", "imap.example.org")
    assert budget.tracked() == 2
    for _ in range(9):  # the sweep kept "late"'s login: nine more, then the limit
        budget.take("late", "imap.example.org")
    with pytest.raises(LoginLimitError):
        budget.take("late", "imap.example.org")
