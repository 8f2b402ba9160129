"""One exception tree for everything hgate can refuse, each class carrying its exit code.

    HgateError                      exit 70  something hgate could not do (internal)
    ├── UsageError                  exit 2   the command line is wrong
    │   ├── CommandNotFound         exit 127 the agent command does not exist
    │   └── CommandNotExecutable    exit 126 it exists but cannot be executed
    ├── PolicyError                 exit 65  the policy does not load or validate (file:line:col)
    ├── IdentityError               exit 66  no token, or the token does not verify / match
    ├── ConfigError                 exit 67  a key, file or setting hgate needs is missing/unusable
    ├── CredentialError             exit 68  an ephemeral credential could not be issued or revoked
    ├── SinkError                   exit 73  the transcript cannot be written (agent stopped)
    ├── MaskingError                exit 76  the masker failed its self-test or its budget
    ├── SessionBlocked              exit 77  a guard stopped the session
    └── TranscriptMalformed         exit 5   a file given as a transcript is not one (the
                                             code of `hgate verify`'s MALFORMED verdict)

The agent's own exit status passes through unchanged (0-125); death by signal N is
128+N; a session ended by its time limit exits 124, like coreutils `timeout`.
`hgate verify` has its own verdict codes (see hgate.audit.verify.Verdict).
Only the CLI turns these into `sys.exit`; the library raises.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_TIME_LIMIT = 124
EXIT_SIGNAL_BASE = 128
EXIT_INTERRUPTED = EXIT_SIGNAL_BASE + 2  # SIGINT: hgate itself was interrupted


class HgateError(Exception):
    """What went wrong, where, and how to fix it; never raw PHI or secret text."""

    exit_code: ClassVar[int] = 70

    def __init__(self, message: str, *, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        if self.remedy:
            return f"{self.message} ({self.remedy})"
        return self.message


class UsageError(HgateError):
    exit_code = 2


class CommandNotFound(UsageError):
    exit_code = 127


class CommandNotExecutable(UsageError):
    """The agent command exists but cannot be executed (POSIX shells' 126)."""

    exit_code = 126


class PolicyError(HgateError):
    """A policy problem; `location` is `file:line:col` when known."""

    exit_code = 65

    def __init__(
        self, message: str, *, location: str | None = None, remedy: str | None = None
    ) -> None:
        super().__init__(message, remedy=remedy)
        self.location = location

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.location}: {text}" if self.location else text


class IdentityError(HgateError):
    exit_code = 66


class ConfigError(HgateError):
    exit_code = 67


class CredentialError(HgateError):
    exit_code = 68


class SinkError(HgateError):
    exit_code = 73


class MaskingError(HgateError):
    exit_code = 76


class SessionBlocked(HgateError):
    exit_code = 77


class TranscriptMalformed(HgateError):
    """A viewer (`show`, `replay`, `report`, `summary`) was given a file that is not an
    hgate transcript; the code is that of verify's MALFORMED verdict."""

    exit_code = 5


EXIT_CODES: dict[str, int] = {
    cls.__name__: cls.exit_code
    for cls in (
        HgateError,
        UsageError,
        CommandNotFound,
        CommandNotExecutable,
        PolicyError,
        IdentityError,
        ConfigError,
        CredentialError,
        SinkError,
        MaskingError,
        SessionBlocked,
        TranscriptMalformed,
    )
}
