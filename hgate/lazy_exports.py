"""Package namespaces that load a member's module only when the member is first used.

`hgate.audit` and `hgate.approvals` export verification, S3, HTTP and channel code that a
plain `hgate run` never touches; importing all of it eagerly cost every start-up tens of
milliseconds. Type checkers still see the eager imports (under TYPE_CHECKING).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that imports `exports[name]` on first use."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
