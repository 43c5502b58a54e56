"""The reports as documents: strict JSON, and writing a report (through :mod:`infocli.outputs`).

No rich here: a JSON run never imports it. The rich tables are in
:mod:`infocli.report.tables`. Every report is built from a metrics state's results and a
description of the inputs, never from the data.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from infocli import __version__

if TYPE_CHECKING:
    from infocli.compare import Comparison
    from infocli.evaluate import Evaluation
    from infocli.gates import GateResult
    from infocli.latent import LatentRun
    from infocli.metrics.groups import GroupReport
    from infocli.metrics.latent import LatentResults
    from infocli.metrics.paired_groups import CompareGroupReport
    from infocli.metrics.state import Results
    from infocli.metrics.tokens import TokenResults
    from infocli.perplexity import PerplexityRun
    from infocli.trend import TrendRow

from infocli.metrics.registry import UNITS
from infocli.metrics.state import to_json_float as json_number


def _gate_dicts(gates: Sequence[GateResult]) -> list[dict[str, Any]]:
    return [
        {
            "expr": r.gate.expr,
            "metric": r.gate.metric,
            "op": r.gate.op,
            "threshold": json_number(r.gate.threshold),
            "value": json_number(r.value),
            "failed": r.failed,
            **({} if r.failing is None else {"failing": list(r.failing)}),
        }
        for r in gates
    ]


def eval_report(
    evaluation: Evaluation,
    results: Results,
    gates: Sequence[GateResult] = (),
    groups: GroupReport | None = None,
) -> dict[str, Any]:
    """The JSON document of an evaluation.

    Args:
        evaluation: The inputs and settings.
        results: The numbers, from the evaluation's state.
        gates: Checked ``--fail-if`` gates.
        groups: The groups, when the rows are grouped.

    Returns:
        A JSON-ready dictionary (no infinities or NaN left as floats).
    """
    labels = evaluation.labels
    return {
        "infocli_version": __version__,
        "predictions": vars(evaluation.predictions).copy(),
        "labels": None if labels is None else vars(labels).copy(),
        **_merged(evaluation.state.inputs),
        "n_samples": results.n_samples,
        "n_classes": evaluation.n_classes,
        "n_ignored": evaluation.state.n_ignored,
        "base": results.base,
        "unit": results.unit,
        "metrics": {k: json_number(v) for k, v in results.metrics.items()},
        "standard_error": {k: json_number(v) for k, v in results.standard_error.items()},
        "distributions": {
            name: {k: json_number(v) for k, v in summary.items()}
            for name, summary in results.percentiles.items()
        },
        "aliases": aliases(results.metrics),
        "n_clipped": results.n_clipped,
        "n_renormalised": evaluation.state.n_renormalised,
        **_calibration(evaluation, results),
        "warnings": list(evaluation.warnings),
        "signature": evaluation.signature(results.base),
        "gates": _gate_dicts(gates),
        **({} if groups is None else groups_document(groups)),
    }


def groups_document(groups: GroupReport) -> dict[str, Any]:
    """The groups' part of an evaluation's JSON: every reported group in table order,
    each with its key values, size, metrics, standard errors and flags, and every
    suppressed group with its key and size.

    Args:
        groups: The groups.

    Returns:
        ``group_by``, ``min_group_size``, ``sort``, ``groups``, ``suppressed_groups``
        (these two as :class:`Encoded` objects).
    """
    return {
        "group_by": list(groups.columns),
        "min_group_size": groups.min_group_size,
        "sort": groups.sort or "n_samples",
        "groups": Encoded(_group_objects(groups, groups.order, full=True)),
        "suppressed_groups": Encoded(_group_objects(groups, groups.small, full=False)),
    }


@dataclass(frozen=True)
class Encoded:
    """A list of a document whose items are JSON texts already: written as they are by
    :func:`to_json`, for lists of many objects built column by column."""

    items: list[str]

    def __bool__(self) -> bool:
        return bool(self.items)


_ENCODE = json.JSONEncoder(allow_nan=False).encode


def _tokens(values: np.ndarray) -> list[str]:
    """The JSON text of each value, as ``json.dumps`` writes it (a finite float by its
    ``repr``; NaN and infinities as :func:`json_number` writes them)."""
    kind = values.dtype.kind
    if len(values) > 1 and kind in "iuf" and (values == values[0]).all():  # one value (a target entropy of 0)
        return _tokens(values[:1]) * len(values)
    items = values.tolist()
    if kind == "b":
        return ["true" if v else "false" for v in items]
    if kind in "iu":
        return list(map(str, items))
    if kind != "f":
        return list(map(_ENCODE, items))
    tokens = list(map(repr, items))
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        tokens[i] = _ENCODE(json_number(items[i]))
    return tokens


def _encoded(values: np.ndarray, done: list[tuple[np.ndarray, list[str]]]) -> list[str]:
    """:func:`_tokens` of ``values``, reused from ``done`` for a column of the same type
    equal to one encoded before (the KL divergence of class labels is their cross-entropy)."""
    for column, tokens in done:
        if column.dtype == values.dtype and np.array_equal(
            column, values, equal_nan=values.dtype.kind == "f"
        ):
            return tokens
    done.append((values, _tokens(values)))
    return done[-1][1]


@dataclass(frozen=True)
class Texts:
    """A column of JSON texts already written, one a row (a leaf of :func:`encoded_rows`)."""

    items: list[str]


def encoded_rows(tree: Any, n: int) -> list[str]:
    """The JSON text of each of ``n`` objects of one shape, as ``json.dumps`` writes each,
    made column by column rather than object by object (100,000 groups in a fraction of
    the time).

    Args:
        tree: The objects' shape: dicts and lists as in the objects, whose leaves are
            columns (NumPy arrays, one value an object, or :class:`Texts`) or constants.
        n: The objects.

    Returns:
        One text an object.
    """
    parts: list[str | list[str]] = []  # constant texts, and one text an object
    done: list[tuple[np.ndarray, list[str]]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict | list):
            items = node.items() if isinstance(node, dict) else ((None, v) for v in node)
            parts.append("{" if isinstance(node, dict) else "[")
            for i, (key, value) in enumerate(items):
                parts.append(", " * (i > 0) + ("" if key is None else _ENCODE(key) + ": "))
                walk(value)
            parts.append("}" if isinstance(node, dict) else "]")
        elif isinstance(node, np.ndarray):
            parts.append(_encoded(node, done))
        elif isinstance(node, Texts):
            parts.append(node.items)
        else:
            parts.append(_ENCODE(node))

    walk(tree)
    columns = [itertools.repeat(p) if isinstance(p, str) else p for p in parts]
    return ["".join(texts) for texts in zip(*columns, strict=False)] if n else []  # repeats are endless


def _group_objects(groups: GroupReport, codes: np.ndarray, *, full: bool) -> list[str]:
    """The JSON object of each group of ``codes``: its key and size, and with ``full`` its
    metrics, standard errors and flags (:func:`encoded_rows`)."""
    r = groups.results
    tree: dict[str, Any] = {
        "key": {column: keys[codes] for column, keys in zip(groups.columns, groups.keys, strict=True)},
        "n_samples": r.n_samples[codes],
    }
    if full:
        tree["metrics"] = {name: column[codes] for name, column in r.metrics.items()}
        tree["standard_error"] = {name: column[codes] for name, column in r.standard_error.items()}
        names = list(groups.flagged)
        masks = sum(
            (groups.flagged[n][codes].astype(np.int64) << j for j, n in enumerate(names)),
            np.zeros(len(codes), np.int64),
        )
        texts = {
            m: _ENCODE([n for j, n in enumerate(names) if m >> j & 1]) for m in np.unique(masks).tolist()
        }
        tree["flagged"] = Texts([texts[m] for m in masks.tolist()])
    return encoded_rows(tree, len(codes))


def aliases(metrics: dict[str, float]) -> dict[str, str]:
    """The aliases a report's metrics answer to in gates: alias -> reported metric.

    Args:
        metrics: The reported metrics.

    Returns:
        For example ``{"accuracy": "top1_agreement"}`` against target distributions.
    """
    from infocli.metrics.registry import REGISTRY

    return {
        m.alias: name
        for name in metrics
        if (m := REGISTRY[name]).alias is not None and m.alias not in metrics
    }


BIN_RULE = "(lower, upper], the first [0, upper]"
"""The calibration bins' rule, as reports state it."""


def calibration_target(binary: bool) -> str:
    """What is calibrated: the top label, or a binary classifier's positive class."""
    return "positive class (class 1)" if binary else "top label"


def _calibration(evaluation: Evaluation, results: Results) -> dict[str, Any]:
    """The ``calibration`` and ``temperature_fit`` sections, where the run has them."""
    from infocli.metrics.registry import LN_BASE

    out: dict[str, Any] = {}
    cal = results.calibration
    if cal is not None:
        out["calibration"] = {
            "target": calibration_target(results.binary),
            "bins": cal.bins,
            "bin_strategy": cal.strategy,
            "bin_rule": BIN_RULE,
            "edge_accuracy": cal.edge_accuracy,
            "brier_decomposition": "top_label_brier = brier_reliability - brier_resolution + "
            "brier_uncertainty + brier_within_bin_variance - brier_within_bin_covariance",
            "classwise_ece_skipped": cal.classwise_skipped,
            "reliability": cal.bins_of(0),
        }
    if results.temperature is not None:
        fit = evaluation.at_temperature
        divisor = LN_BASE[results.base]
        out["temperature_fit"] = {
            "temperature": json_number(results.temperature),
            "grid": "64 temperatures log-spaced over [0.05, 20], refined by a parabola in log T",
            "at_grid_edge": evaluation.state.temperature_fit.at_edge(),
            # From a second pass over the inputs; a merge of saved states has no data for it.
            "cross_entropy": None if fit is None else json_number(fit["cross_entropy"] / divisor),
            "ece": None if fit is None else json_number(fit["ece"]),
        }
    return out


def _merged(inputs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{"merged": [the inputs of every part]}`` for a report of several merged states."""
    return {"merged": list(inputs)} if len(inputs) > 1 else {}


ONE_LINE_LISTS = ("groups", "suppressed_groups")
"""Lists of a document written one item per line, by the C encoder: Python writes indented
JSON with its pure-Python one, several times slower for 100,000 groups."""


def to_json(document: dict[str, Any]) -> str:
    """Strict JSON text (``allow_nan=False``), indented, ending in a newline; the items of
    :data:`ONE_LINE_LISTS` one per line.

    Args:
        document: From a ``*_report`` function.

    Returns:
        The text.
    """
    lists = {key: document[key] for key in ONE_LINE_LISTS if key in document}
    marks = {key: f"\0{key}\0" if items else [] for key, items in lists.items()}
    text = json.dumps({**document, **marks}, indent=2, allow_nan=False)
    for key, items in lists.items():
        if items:
            lines = items.items if isinstance(items, Encoded) else list(map(_ENCODE, items))
            text = text.replace(json.dumps(marks[key]), "[\n    " + ",\n    ".join(lines) + "\n  ]")
    return text + "\n"


def write_report(text: str, path: str | None) -> None:
    """Write the report to stdout, or to ``path`` whole or not at all.

    Args:
        text: The report.
        path: The output file, or None for stdout.

    Raises:
        InfoCliError: The file could not be written (see :func:`infocli.outputs.write_atomically`),
            or stdout cannot be written, in a process set up by :func:`infocli.streams.setup`.
    """
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from infocli.outputs import write_atomically

    write_atomically(path, text, option="--output")


def perplexity_report(
    run: PerplexityRun, results: TokenResults, gates: Sequence[GateResult] = ()
) -> dict[str, Any]:
    """The JSON document of a perplexity run.

    Args:
        run: The input and settings.
        results: The numbers, from the run's state.
        gates: Checked ``--fail-if`` gates.

    Returns:
        A JSON-ready dictionary.
    """
    return {
        "infocli_version": __version__,
        "tokens": {"path": run.tokens.path, "format": run.tokens.format},
        **_merged(run.state.inputs),
        "n_tokens": results.n_tokens,
        "n_sequences": results.n_sequences,
        "n_masked": results.n_masked,
        "base": results.base,
        "unit": UNITS[results.base],
        "metrics": {k: json_number(v) for k, v in results.metrics.items()},
        "standard_error": {k: json_number(v) for k, v in results.standard_error.items()},
        "worst_sequences": [
            {k: json_number(v) if isinstance(v, float) else v for k, v in row.items()}
            for row in results.worst
        ],
        "warnings": list(run.warnings),
        "signature": run.signature(results.base),
        "gates": _gate_dicts(gates),
    }


def latent_report(run: LatentRun, results: LatentResults, gates: Sequence[GateResult] = ()) -> dict[str, Any]:
    """The JSON document of a latent-kl run.

    Args:
        run: The inputs and settings.
        results: The numbers, from the run's state.
        gates: Checked ``--fail-if`` gates.

    Returns:
        A JSON-ready dictionary: the metrics, the per-dimension KL sorted from the
        largest, the collapsed dimensions by name.
    """
    settings = run.state.settings
    scale = run.scale
    return {
        "infocli_version": __version__,
        "latent": vars(run.latent).copy(),
        "scale": None if scale is None else vars(scale).copy(),
        **_merged(run.state.inputs),
        "n_samples": results.n_samples,
        "n_dims": len(settings["dims"]),
        "param": settings["param"],
        "prior": settings["prior"],
        "prior_param": settings["prior_param"],
        "au_threshold": settings["au_threshold"],
        "collapse_threshold": settings["collapse_threshold"],
        "free_bits": settings["free_bits"],
        "base": results.base,
        "unit": results.unit,
        "metrics": {k: json_number(v) for k, v in results.metrics.items()},
        "standard_error": {k: json_number(v) for k, v in results.standard_error.items()},
        "dimensions": [
            {k: json_number(v) if isinstance(v, float) else v for k, v in row.items()}
            for row in results.dimensions
        ],
        "collapsed_dims": list(results.collapsed),
        "n_infinite": results.n_infinite,
        "warnings": list(run.warnings),
        "signature": run.signature(results.base),
        "gates": _gate_dicts(gates),
    }


def trend_report(
    rows: Sequence[TrendRow],
    base: str,
    signature: str,
    gate: dict[str, Any] | None,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The JSON document of a trend.

    Args:
        rows: The checkpoints in step order.
        base: The log base of the cross-entropy.
        signature: The settings signature shared by every checkpoint.
        gate: The ``--fail-if-worse`` gate and its outcome, or None.
        warnings: The run's warnings.

    Returns:
        A JSON-ready dictionary.
    """
    return {
        "infocli_version": __version__,
        "base": base,
        "unit": UNITS[base],
        "checkpoints": [
            {
                "path": r.checkpoint.path,
                "step": r.checkpoint.step,
                "cross_entropy": json_number(r.checkpoint.cross_entropy),
                "perplexity": json_number(r.checkpoint.perplexity),
                "perplexity_se": json_number(r.checkpoint.perplexity_se),
                "change": None if r.change is None else json_number(r.change),
                "change_pct": None if r.change_pct is None else json_number(r.change_pct),
                "from_best": json_number(r.from_best),
                "from_best_pct": json_number(r.from_best_pct),
                "best": r.best,
                **_change_dict("change", r.change_test, base),
                **_change_dict("from_best", r.from_best_test, base),
            }
            for r in rows
        ],
        "warnings": list(warnings),
        "signature": signature,
        "gate": None
        if gate is None
        else {k: json_number(v) if isinstance(v, float) else v for k, v in gate.items()},
    }


def _change_dict(prefix: str, test: Any, base: str) -> dict[str, Any]:
    """A trend change's paired test: the change in cross-entropy (in ``base``) with its
    standard error, the perplexity change's standard error, the p-value and the mark."""
    from infocli.metrics.registry import LN_BASE

    if test is None:
        return {
            f"{prefix}_{k}": None
            for k in ("cross_entropy", "cross_entropy_se", "se", "p_value", "significant")
        }
    return {
        f"{prefix}_cross_entropy": json_number(test.cross_entropy / LN_BASE[base]),
        f"{prefix}_cross_entropy_se": json_number(test.cross_entropy_se / LN_BASE[base]),
        f"{prefix}_se": json_number(test.perplexity_se),
        f"{prefix}_p_value": json_number(test.p_value),
        f"{prefix}_significant": test.significant,
    }


def metrics_report() -> dict[str, Any]:
    """The JSON document of ``infocli metrics``: the registry.

    Returns:
        ``{"metrics": [...]}``, one object per metric, in report order.
    """
    from dataclasses import asdict

    from infocli.metrics.registry import METRICS

    return {"infocli_version": __version__, "metrics": [asdict(m) for m in METRICS]}


COMPARE_METHOD = (
    "paired: per-row differences d = candidate - baseline; SE = sample standard deviation of d / "
    "sqrt(N); interval and two-sided p by the normal approximation; accuracy also by McNemar's exact "
    "test on the discordant rows, whose p enters Holm's correction over every metric and candidate"
)
"""How a comparison's numbers were computed, as its report says."""


def _json_tree(value: Any) -> Any:
    """Floats of nested dictionaries and lists made strict JSON (infinities and NaN as strings)."""
    if isinstance(value, dict):
        return {k: _json_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_tree(v) for v in value]
    if isinstance(value, float):
        return json_number(value)
    return value


def compare_report(
    comparison: Comparison,
    comparisons: Sequence[dict[str, Any]],
    base: str,
    gates: Sequence[GateResult] = (),
    worse: Sequence[dict[str, Any]] = (),
    groups: CompareGroupReport | None = None,
) -> dict[str, Any]:
    """The JSON document of a comparison.

    Args:
        comparison: The inputs, settings and warnings.
        comparisons: Each candidate's numbers (:meth:`CompareState.compute`).
        base: The log base of information values.
        gates: Checked ``--fail-if`` gates.
        worse: Checked ``--fail-if-worse`` gates.
        groups: The groups, when the rows are grouped.

    Returns:
        A JSON-ready dictionary.
    """
    state = comparison.state
    part = state.inputs[0]
    settings = state.settings
    return {
        "infocli_version": __version__,
        "baseline": dict(part["baseline"]),
        "candidates": [dict(c) for c in part["candidates"]],
        "labels": None if part["labels"] is None else dict(part["labels"]),
        **_merged(state.inputs),
        "n_samples": state.n_samples,
        "n_classes": settings["n_classes"],
        "n_ignored": state.n_ignored,
        "base": base,
        "unit": UNITS[base],
        "confidence": settings["confidence"],
        "alpha": settings["alpha"],
        "method": COMPARE_METHOD,
        "comparisons": [
            {"candidate": label, **_json_tree(c)}
            for label, c in zip(comparison.candidates, comparisons, strict=True)
        ],
        "warnings": list(comparison.warnings),
        "signature": comparison.signature(base),
        "gates": _gate_dicts(gates),
        "fail_if_worse": _json_tree(list(worse)),
        **({} if groups is None else compare_groups_document(groups)),
    }


def compare_groups_document(groups: CompareGroupReport) -> dict[str, Any]:
    """The groups' part of a comparison's JSON: every reported group in table order, each
    with its key values, size and every candidate's comparison on its rows (the shape of
    the overall ``comparisons``), and every suppressed group with its key and size.

    Returns:
        ``group_by``, ``min_group_size``, ``sort``, ``group_tests``, ``groups``,
        ``suppressed_groups``.
    """
    from infocli.metrics.paired_groups import GROUP_TESTS

    return {
        "group_by": list(groups.columns),
        "min_group_size": groups.min_group_size,
        "sort": groups.sort or "n_samples",
        "group_tests": GROUP_TESTS,
        "groups": Encoded(encoded_rows(_compared_groups(groups), groups.n_rows)),
        "suppressed_groups": [{"key": key, "n_samples": n} for key, n in groups.suppressed],
    }


def _compared_groups(groups: CompareGroupReport) -> dict[str, Any]:
    """The shape of a comparison's group objects (:func:`encoded_rows`): each group's key,
    size and every candidate's comparison on its rows, as columns."""
    ordered = groups.ordered
    codes = ordered.order
    comparisons = [
        {"candidate": label, **tested.shape(groups.tested_as)}
        for label, tested in zip(groups.candidates, groups.tested, strict=True)
    ]
    return {
        "key": {column: keys[codes] for column, keys in zip(groups.columns, ordered.keys, strict=True)},
        "n_samples": ordered.results.n_samples[codes],
        "comparisons": comparisons,
    }
