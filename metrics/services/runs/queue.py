"""Which queue each step of a run goes to; every step is sent after the transaction commits."""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction

from metrics.models import RunStep
from metrics.services.runs.steps import step_add, steps_add_chunks

# Planning and aggregation are cheap and need no accelerator.
CPU = "cpu"


def step_add_plan(run_id: int) -> RunStep:
    return step_add(run_id=run_id, kind=RunStep.Kind.PLAN, queue=CPU)


def step_add_aggregate(run_id: int) -> RunStep:
    return step_add(run_id=run_id, kind=RunStep.Kind.AGGREGATE, queue=CPU)


def step_add_once(add: Callable[[int], RunStep], run_id: int) -> bool:
    """``add(run_id)`` (the plan or the aggregation: one of each per run); False when the run
    has that step already.

    In a savepoint of its own: losing to a concurrent adder (the unique constraint) leaves
    the caller's transaction usable.
    """
    try:
        with transaction.atomic():
            add(run_id)
    except IntegrityError:
        return False
    return True


def steps_add_for_chunks(run_id: int, chunks: list, *, queue: str) -> list[int]:
    """One step per chunk (``chunk.kind`` on ``chunk.keys``) on ``queue``."""
    return steps_add_chunks(
        run_id=run_id, queue=queue, chunks=[(chunk.kind, chunk.keys) for chunk in chunks]
    )
