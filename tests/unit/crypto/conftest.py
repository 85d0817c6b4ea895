from __future__ import annotations

import pytest
from _crypto_support import Hierarchy, HierarchyCache

from lemur.crypto.keys import KeySpec


@pytest.fixture(scope="session")
def hierarchies() -> HierarchyCache:
    return HierarchyCache()


@pytest.fixture(scope="session")
def ec_ca(hierarchies: HierarchyCache) -> Hierarchy:
    return hierarchies.get(KeySpec.EC_P256)
