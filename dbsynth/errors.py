"""Errors a user can act on, each with the exit code the CLI documents.

Every failure that is the user's to fix is one of these: the CLI prints its message on one line
and exits with its code, never a traceback.
"""

from __future__ import annotations


class DbsynthError(Exception):
    """Base: a message for the user and an exit code."""

    exit_code = 70

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class VerifyFailed(DbsynthError):
    exit_code = 1


class UsageError(DbsynthError):
    """Bad arguments: epsilon <= 0, unknown method, a malformed spec."""

    exit_code = 2


class SpecError(UsageError):
    exit_code = 2


class ConnectionFailed(DbsynthError):
    """Host unreachable, wrong password, database missing."""

    exit_code = 3


class PermissionDenied(DbsynthError):
    """The source role lacks a privilege dbsynth needs."""

    exit_code = 4


class TargetNotEmpty(DbsynthError):
    exit_code = 5


class TargetBusy(DbsynthError):
    """Another dbsynth run is writing the same target (it holds the target's write lock)."""

    exit_code = 5


class UnsupportedSchema(DbsynthError):
    """A column type or construct dbsynth cannot model or map to the target engine."""

    exit_code = 6


class BudgetTooSmall(DbsynthError):
    exit_code = 7


class WriteFailed(DbsynthError):
    """The target refused the data; it was rolled back."""

    exit_code = 8


class TargetIsSource(DbsynthError):
    """The target names the source database (however spelt): dbsynth never writes into its source."""

    exit_code = 9


EXIT_CODES = {
    0: "success",
    1: "verify: a hard check failed",
    2: "usage error: bad arguments or a malformed spec",
    3: "cannot connect: host unreachable, wrong credentials or missing database",
    4: "missing privilege on the source",
    5: "target is not empty (use --replace), or another dbsynth run is writing it",
    6: "unsupported column type or schema construct",
    7: "privacy budget too small for the plan",
    8: "write failed; the target was left as it was",
    9: "the target is the source database (refused before anything is read)",
    70: "internal error",
}
