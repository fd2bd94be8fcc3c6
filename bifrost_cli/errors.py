"""Error classes and the exit-code contract.

Every failure the CLI knows about is a :class:`BifrostError` carrying a message, an optional hint
(what to do about it) and the exit code the process ends with. Nothing here imports typer or rich.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``bifrost`` command (documented in ``bifrost --help`` and the README)."""

    OK = 0
    ERROR = 1  # general error (an API error that fits no class below, a bad server answer...)
    USAGE = 2  # bad options, bad input file, missing configuration
    AUTH = 3  # authentication or permission refused
    NOT_FOUND = 4  # the file or batch does not exist (for these credentials)
    CONFLICT = 5  # conflict, or still rate-limited after every retry
    UNAVAILABLE = 6  # timed out (including `wait --timeout`), or the gateway/provider is unreachable
    BATCH_FAILED = 7  # a waited-on batch ended with requests that did not all succeed
    HANGUP = 129  # SIGHUP (the terminal closed)
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM (`timeout`, a CI job canceled)


EXIT_CODE_HELP = """Exit codes:
  0    success
  1    general error
  2    usage error: bad option, bad input file, missing setting
  3    authentication or permission refused
  4    not found
  5    conflict, or rate-limited after retries
  6    timeout (including wait --timeout), gateway/provider unavailable,
       wait's status checks kept failing (--max-poll-errors), wait
       --fail-if-stuck saw a batch stuck, or a download or results cut
       short (nothing put in place)
  7    wait / create --wait: a batch ended but not every request succeeded,
       or the batch failed, expired or was canceled (--allow-errors: 0)
  130  interrupted (Ctrl-C); a batch being waited on is never canceled
  143  ended by SIGTERM (129: SIGHUP); a half-written -o file is removed,
       a wait says how to resume"""


class BifrostError(Exception):
    """A failure with a user-facing message, an optional hint and an exit code."""

    exit_code: ExitCode = ExitCode.ERROR
    may_have_been_received: bool = False
    """A request that creates something failed after it may have reached the API: check before
    sending it again (the batches and files services reconcile)."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(BifrostError):
    """Bad options or configuration, found before anything was sent."""

    exit_code = ExitCode.USAGE


class InputError(UsageError):
    """A bad input file. ``problems`` holds every ``FILE:LINE: message`` found."""

    def __init__(self, problems: list[str], *, hint: str | None = None, total: int | None = None):
        self.problems = problems
        count = total if total is not None else len(problems)
        noun = "problem" if count == 1 else "problems"
        head = f"the input has {count} {noun}; nothing was sent"
        super().__init__(head, hint=hint)


class UnsupportedError(UsageError):
    """The selected target cannot do this operation. Raised before any I/O."""


class APIError(BifrostError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
        exit_code: ExitCode | None = None,
    ):
        super().__init__(message, hint=hint, exit_code=exit_code)
        self.status = status
        self.error_type = error_type
        self.request_id = request_id


class AuthError(APIError):
    exit_code = ExitCode.AUTH


class NotFoundError(APIError):
    exit_code = ExitCode.NOT_FOUND


class ConflictError(APIError):
    exit_code = ExitCode.CONFLICT


class RateLimitError(APIError):
    exit_code = ExitCode.CONFLICT


class UnavailableError(APIError):
    """The gateway or provider could not be reached, or kept failing with 5xx."""

    exit_code = ExitCode.UNAVAILABLE


class WaitTimeout(BifrostError):
    exit_code = ExitCode.UNAVAILABLE


class BatchStuck(WaitTimeout):
    """``wait --fail-if-stuck``: a batch's counts did not move for ``--stuck-after`` seconds."""


class TransferIncomplete(BifrostError):
    """Less arrived than the provider says exists (a download or results cut short); nothing was
    put in place (``--allow-partial`` keeps what arrived, named as partial)."""

    exit_code = ExitCode.UNAVAILABLE


class BatchIncomplete(BifrostError):
    """A waited-on batch ended without every request succeeding."""

    exit_code = ExitCode.BATCH_FAILED


class BatchNotEnded(BifrostError):
    """A batch's results were asked for before it ended (a general error, not ``wait``'s exit 7)."""

    exit_code = ExitCode.ERROR


class ResponseError(BifrostError):
    """The server answered 2xx with something that is not what the API promises."""

    exit_code = ExitCode.ERROR


class Interrupted(BifrostError):
    exit_code = ExitCode.INTERRUPTED


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so that it unwinds exactly as for Ctrl-C
    (a half-written file removed, a wait's resume hint shown), then exits 128 + the signal."""

    def __init__(self, signum: int, name: str):
        super().__init__(name)
        self.signum = signum
        self.name = name

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode(128 + self.signum) if 128 + self.signum in ExitCode._value2member_map_ else ExitCode.TERMINATED


def stop_code(exc: KeyboardInterrupt) -> ExitCode:
    """The exit code for a stop: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return exc.exit_code if isinstance(exc, Terminated) else ExitCode.INTERRUPTED
