"""The values ``supervise`` options take, checked the same way on both of its start-up paths.

argparse (``cli/supervise.py``) and the early start's argv scan (``cli/_early.py``) both call
these, so an option value one accepts the other accepts, with the same result. Kept free of
argparse: the early start runs before it is imported. Errors are :class:`ValueError` with the
message argparse shows (it wraps them in ``ArgumentTypeError``).
"""

from __future__ import annotations

__all__ = ["READY_CHOICES", "RESTART_CHOICES", "START_PRIORITY_CHOICES", "nice", "seconds"]

READY_CHOICES = ("notify", "started")
RESTART_CHOICES = ("on-failure", "always", "no")
START_PRIORITY_CHOICES = ("idle", "nice", "normal")


def seconds(text: str) -> float:
    """A positive number of seconds (``--ready-timeout``, ``--drain-timeout``, ...)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"must be a positive number of seconds, got {text!r}")
    return value


def cpu_list(text: str) -> frozenset[int]:
    """A CPU list (``--spare-cpus``): ``1``, ``2-3``, ``0,4-5``; every CPU usable here."""
    from ..restart.affinity import parse_cpus  # only when the option is given

    return parse_cpus(text)


def nice(text: str) -> int:
    """A nice increment 0..19 (``--start-nice``)."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be a whole number 0..19, got {text!r}") from None
    if not 0 <= value <= 19:
        raise ValueError(f"must be 0..19, got {text!r}")
    return value
