"""The SDK's errors: one small hierarchy under :class:`ChuteError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chute.models import TaskErrorInfo


class ChuteError(Exception):
    """Base class of every error this SDK raises."""


class ChuteApiError(ChuteError):
    """The gateway answered with an error.

    ``code`` is one of the platform's error codes (``RUN_NOT_FOUND``, ``UNAVAILABLE``, ...),
    or ``HTTP_ERROR`` / ``INVALID_RESPONSE`` when the answer was not one of the gateway's.
    ``status`` is the HTTP status (0 when there was no HTTP answer at all).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether asking again later may succeed (the gateway's 5xx answers)."""
        return self.status == 0 or self.status >= 500


class RunFailedError(ChuteError):
    """A run ended without completing (``FAILED``, ``CANCELLED`` or ``TIMED_OUT``).

    ``error`` is the task's failure as the platform recorded it, when there is one.
    """

    def __init__(self, run_id: str, status: str, error: TaskErrorInfo | None) -> None:
        detail = f": {error.name}: {error.message}" if error is not None else ""
        super().__init__(f"run {run_id} ended {status}{detail}")
        self.run_id = run_id
        self.status = status
        self.error = error


class NonRetryableError(ChuteError):
    """Raise from a task to fail its run at once, without spending its remaining retries."""


class ChunkTooLargeError(ChuteError, ValueError):
    """A stream chunk is larger than the gateway takes; nothing was sent for it.

    Split the data into smaller chunks. ``size`` and ``limit`` are in bytes (UTF-8 for text).
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"stream chunk of {size} bytes exceeds the gateway's limit of {limit} bytes; split it into smaller chunks"
        )
        self.size = size
        self.limit = limit


class AttemptCancelledError(ChuteError):
    """The attempt was cancelled (run cancelled, timed out, or the worker lost its gateway).

    Raised by ``put_stream`` after the cancel, so a synchronous task running in a thread,
    which asyncio cannot interrupt, stops at its next chunk. Nothing more is sent for
    the attempt.
    """


class StreamDisconnectedError(ChuteError):
    """A run's stream dropped more times in a row than ``max_reconnects`` allows."""


class WorkerConfigError(ChuteError, ValueError):
    """A task or worker was defined with an invalid option (name, retries, timeout, slots)."""


class RegistrationError(ChuteError):
    """The gateway did not accept the worker's ``register`` (it answered ``error``, or nothing in time)."""
