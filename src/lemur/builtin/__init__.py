"""First-party plugins, registered through the same entry points as third-party ones
(see ``[project.entry-points]`` in pyproject.toml). They import only ``lemur.plugins``,
``lemur.crypto``, ``lemur.errors`` and ``lemur.clock``."""
