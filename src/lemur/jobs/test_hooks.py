"""Tests only: extra job kinds and schedule entries for runners started as processes.

A test's own job kinds (one that fails twice, one that fails for good, a fast schedule
entry) cannot be handed to a ``lemur worker`` or ``lemur scheduler`` subprocess as objects.
``LEMUR_TEST_JOB_KINDS=<module>`` names a module with ``KINDS`` (job kinds) and optionally
``SCHEDULE`` (schedule entries) that such a process adds to its own; like the test clock,
it is refused unless ``LEMUR_ALLOW_TEST_CLOCK=1`` says this is a test.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from types import ModuleType

from lemur.errors import ConfigurationError
from lemur.jobs.registry import JobKinds
from lemur.jobs.schedule import ScheduleEntry

ENV = "LEMUR_TEST_JOB_KINDS"


def _module() -> ModuleType | None:
    name = os.environ.get(ENV)
    if not name:
        return None
    if os.environ.get("LEMUR_ALLOW_TEST_CLOCK") != "1":
        raise ConfigurationError(
            f"{ENV} is for tests only: it adds job kinds; unset it "
            "(a test sets LEMUR_ALLOW_TEST_CLOCK=1 as well)",
            code="test_hooks_refused",
        )
    return importlib.import_module(name)


def with_test_kinds(kinds: JobKinds) -> JobKinds:
    """``kinds`` plus the test module's, if a test named one."""
    module = _module()
    if module is None:
        return kinds
    return JobKinds([*kinds.values(), *module.KINDS])


def with_test_schedule(entries: Sequence[ScheduleEntry]) -> tuple[ScheduleEntry, ...]:
    module = _module()
    if module is None:
        return tuple(entries)
    return (*entries, *getattr(module, "SCHEDULE", ()))
