"""The UI tests' fixtures live in ui_support (importable by the test modules too)."""

from ui_support import recorded

__all__ = ["recorded"]
