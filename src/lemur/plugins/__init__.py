"""The public plugin API: base classes, frozen value types, errors, the registry and the
contract-test kit (``lemur.plugins.testing``). Plugins import only this package and
``lemur.crypto``; they never see ORM rows or database sessions."""
