"""Metric gates for CI: ``--fail-if "cross_entropy > 0.5"``.

A gate's name may be dotted (``kl_divergence.p99``, ``delta.cross_entropy``,
``groups.accuracy``), and its value may have members (one per candidate, or per group):
such a gate fails when any member fails.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from infocli.errors import InfoCliError

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_EXPR = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Gate:
    """A condition that fails the run when it is true: ``METRIC OP NUMBER``."""

    expr: str
    metric: str
    op: str
    threshold: float

    def fails(self, value: float) -> bool:
        """Whether ``value`` fails the gate: the condition holds, or the value is NaN.

        Infinities compare as IEEE numbers: an infinite cross-entropy fails
        ``cross_entropy > 0.5`` and passes ``cross_entropy < 0.5``.

        Args:
            value: The metric's value, in the report's units.

        Returns:
            True if the gate fails.
        """
        return math.isnan(value) or _OPS[self.op](value, self.threshold)


@dataclass(frozen=True)
class GateResult:
    """A gate checked against a report.

    ``value`` is the metric's value or, for a metric with members, the worst member's
    (the lowest for ``<`` and ``<=``, the highest for ``>`` and ``>=``; NaN if any is
    NaN); ``failing`` names the failing members, and is None for a metric without members.
    """

    gate: Gate
    value: float
    failed: bool
    failing: tuple[str, ...] | None = field(default=None)


def parse_gate(expr: str, known: Iterable[str]) -> Gate:
    """Parse ``METRIC OP NUMBER``, OP one of ``<``, ``<=``, ``>``, ``>=``.

    Args:
        expr: The expression, e.g. ``"accuracy < 0.9"`` (spaces optional).
        known: Every metric name a report can have.

    Returns:
        The gate.

    Raises:
        InfoCliError: The expression does not parse, or names no metric.
    """
    match = _EXPR.match(expr)
    if not match:
        raise InfoCliError(
            f"cannot parse --fail-if {expr!r}; expected METRIC OP NUMBER with OP one of <, <=, >, >=",
            hint='For example --fail-if "cross_entropy > 0.5"',
        )
    known = list(known)
    if match["metric"] not in known:
        raise InfoCliError(
            f"--fail-if {expr!r}: unknown metric {match['metric']!r}; the metrics are {', '.join(known)}"
        )
    return Gate(expr, match["metric"], match["op"], float(match["number"]))


def check_available(gates: Iterable[Gate], available: Iterable[str], why: str) -> None:
    """Reject gates on metrics this run cannot produce.

    Args:
        gates: The parsed gates.
        available: The metrics this run will report.
        why: Why the others are missing, for the message.

    Raises:
        InfoCliError: A gate names a metric that will not be reported.
    """
    available = set(available)
    for gate in gates:
        if gate.metric not in available:
            raise InfoCliError(f"--fail-if {gate.expr!r}: this run cannot report {gate.metric} ({why})")


def apply_gates(
    gates: Iterable[Gate], metrics: Mapping[str, float | Mapping[str, float]]
) -> list[GateResult]:
    """Check each gate against the report's metrics.

    Args:
        gates: The parsed gates.
        metrics: The report's metrics: each a value, or a mapping of member (a candidate,
            a group) to value.

    Returns:
        One result per gate, in order.
    """
    return [_check(g, metrics[g.metric]) for g in gates]


def _check(gate: Gate, value: float | Mapping[str, float]) -> GateResult:
    if not isinstance(value, Mapping):
        return GateResult(gate, value, gate.fails(value))
    failing = tuple(member for member, v in value.items() if gate.fails(v))
    values = list(value.values())
    if not values:
        worst = math.nan
    elif any(math.isnan(v) for v in values):
        worst = math.nan
    else:
        worst = min(values) if gate.op in ("<", "<=") else max(values)
    return GateResult(gate, worst, bool(failing), failing)
