"""The UI tests' fixtures live in ui_support (importable by the test modules too)."""

from tests.integration.ui.ui_support import recorded

__all__ = ["recorded"]
