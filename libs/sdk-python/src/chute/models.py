"""Data shapes shared by the client and the worker: the gateway's run view and task inputs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]
"""Where a run is in its life; the last four are final."""

FINAL_STATUSES: frozenset[str] = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})


class EmptyModel(BaseModel):
    """The input of a task that takes none (any fields sent are kept, as Hatchet's ``EmptyModel`` does)."""

    model_config = ConfigDict(extra="allow")


class TaskErrorInfo(BaseModel):
    """A task failure as the platform records it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str
    message: str
    stack: str | None = None
    non_retryable: bool = Field(default=False, alias="nonRetryable")


class RunView(BaseModel):
    """A run as ``GET /api/v1/runs/{id}`` and ``/result`` show it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    run_id: str = Field(alias="runId")
    task: str
    status: RunStatus
    input: Any = None
    output: Any = None
    error: TaskErrorInfo | None = None
    attempt: int
    retries: int
    worker_id: str | None = Field(default=None, alias="workerId")
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    started_at: str | None = Field(default=None, alias="startedAt")
    finished_at: str | None = Field(default=None, alias="finishedAt")

    @property
    def is_final(self) -> bool:
        """Whether the run has ended."""
        return self.status in FINAL_STATUSES
