"""A pending request's polls never reuse a job key: a reused key would be skipped by the
outbox (``ON CONFLICT DO NOTHING``) and leave the request pending forever."""

from __future__ import annotations

import itertools

from lemur.orders.store import poll_key


def test_every_sequence_of_answers_and_failures_gives_new_keys() -> None:
    for outcomes in itertools.product("PF", repeat=8):  # P: the CA answered; F: unreachable
        polls = failures = 0
        keys = [poll_key(7, polls, failures)]
        for outcome in outcomes:
            if outcome == "P":
                polls, failures = polls + 1, 0
            else:
                failures += 1
            keys.append(poll_key(7, polls, failures))
        assert len(set(keys)) == len(keys), outcomes
