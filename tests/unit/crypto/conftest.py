from __future__ import annotations

import pytest
from _crypto_support import Hierarchy, make_hierarchy

from lemur.crypto.keys import KeySpec


class HierarchyCache:
    """Root + intermediate per (key spec, cab_forum), built once per test session."""

    def __init__(self) -> None:
        self._cache: dict[tuple[KeySpec, bool], Hierarchy] = {}

    def get(self, spec: KeySpec, *, cab_forum: bool = False) -> Hierarchy:
        key = (spec, cab_forum)
        if key not in self._cache:
            self._cache[key] = make_hierarchy(spec, cab_forum=cab_forum)
        return self._cache[key]


@pytest.fixture(scope="session")
def hierarchies() -> HierarchyCache:
    return HierarchyCache()


@pytest.fixture(scope="session")
def ec_ca(hierarchies: HierarchyCache) -> Hierarchy:
    return hierarchies.get(KeySpec.EC_P256)
