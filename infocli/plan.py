"""Every decision of an evaluation, made once before scoring: the plan.

A plan says which columns hold the predictions and the labels, how each is read (kinds
detected from the first chunk when ``auto``), the classes, the label form, and every
setting that changes a number. Whatever scores the chunks (threads here, worker
processes or machines elsewhere) is handed the same plan, so they read the data the same
way; its :meth:`EvalPlan.settings` are what a state carries and what states must share to
merge, and :func:`signature` is built from them alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli import __version__
from infocli.errors import InfoCliError, param
from infocli.ignored import t2_ignored
from infocli.metrics.inputs import KINDS, as_float, check_settings, detect_kind
from infocli.metrics.scores import Scorer
from infocli.metrics.state import FORMAT_VERSION
from infocli.readers import Table


@dataclass(frozen=True)
class EvalOptions:
    """Every setting of an evaluation, as given (``"auto"`` kinds not yet decided)."""

    kind: str = "auto"
    target_kind: str = "auto"
    pred_cols: tuple[str, ...] | None = None
    label_col: str | None = None
    base: str = "e"
    temperature: float = 1.0
    eps: float = 1e-12
    tol: float = 1e-3
    chunk_rows: int | None = None
    ignore_index: int | None = None
    input_format: str = "csv"
    calibration: bool = False
    bins: int = 15
    bin_strategy: str = "uniform"
    fit_temperature: bool = False
    npz_key: str | None = None  # the array of a .npz of predictions
    label_npz_key: str | None = None  # ... and of labels
    js: bool = False
    js_beta: float = 0.5
    t2: bool = False

    @property
    def label_name(self) -> str:
        """The label column to look for."""
        return self.label_col or "label"

    def check(self) -> None:
        """Reject settings that cannot work, before any file is opened.

        Raises:
            InfoCliError: A non-positive temperature, chunk size or tolerance; a negative eps;
                an unknown kind.
        """
        check_settings(temperature=self.temperature, eps=self.eps, tol=self.tol)
        for name in ("kind", "target_kind"):
            kind = getattr(self, name)
            if kind != "auto" and kind not in KINDS:
                raise InfoCliError(f"{param(name)} must be auto, {', '.join(KINDS)}; got {kind!r}")
        check_chunk_rows(self.chunk_rows)
        check_js_beta(self.js_beta)
        check_calibration(self)


def check_js_beta(beta: float) -> None:
    """Reject a Jensen-Shannon weight outside (0, 1); at 0 and 1 say which KL is meant.

    Raises:
        InfoCliError: Naming the parameter and the value.
    """
    if 0 < beta < 1:
        return
    ends = {
        0.0: "β = 0 is the forward KL, KL(p ‖ q), which eval reports as kl_divergence",
        1.0: "β = 1 is the reverse KL, KL(q ‖ p), which eval reports as reverse_kl_divergence",
    }
    if beta in ends:
        raise InfoCliError(
            f"{param('js_beta')} must be strictly between 0 and 1, got {beta:g}: in TRL's generalised "
            f"Jensen-Shannon divergence {ends[beta]}",
            hint=f"Gate on that metric instead, or give {param('js_beta')} a weight in (0, 1)",
        )
    raise InfoCliError(
        f"{param('js_beta')} must be strictly between 0 and 1 (the teacher's weight in the mixture), got {beta!r}"
    )


def check_calibration(options: EvalOptions) -> None:
    """Reject calibration settings that cannot work.

    Raises:
        InfoCliError: Bins below 1 (or above the grid of quantile bins), an unknown bin
            strategy, or a temperature fit over probabilities or on top of a temperature.
    """
    from infocli.metrics.calibration import GRID, STRATEGIES

    if options.bin_strategy not in STRATEGIES:
        raise InfoCliError(
            f"{param('bin_strategy')} must be one of {', '.join(STRATEGIES)}; got {options.bin_strategy!r}"
        )
    if not 1 <= options.bins <= GRID:
        raise InfoCliError(f"{param('bins')} must be between 1 and {GRID:,}, got {options.bins}")
    if options.fit_temperature and options.temperature != 1.0:
        raise InfoCliError(
            f"{param('fit_temperature')} fits the temperature; it cannot be combined with {param('temperature')}",
            hint=f"Leave out {param('temperature')}",
        )
    if options.fit_temperature and options.kind == "probs":
        raise InfoCliError(
            f"{param('fit_temperature')} needs logits or log-probabilities, but {param('kind')} is probs",
            hint=f"Pass {param('kind')} logits or logprobs, or the scores before the softmax",
        )


MAX_CHUNK_ROWS = 1 << 31
"""The most rows a chunk holds, whatever is asked: more than any file infocli can hold in
memory, and within what a platform integer holds."""


def check_chunk_rows(chunk_rows: int | None) -> None:
    """Reject a chunk size below 1.

    Raises:
        InfoCliError: Naming the parameter and the value.
    """
    if chunk_rows is not None and chunk_rows < 1:
        raise InfoCliError(f"{param('chunk_rows')} must be at least 1, got {chunk_rows}")


@dataclass(frozen=True)
class InputInfo:
    """What the report says about an input file: where, in what format, read as what."""

    path: str
    format: str
    kind: str


@dataclass
class Layout:
    """Which columns of which file hold what: the part of the plan decided from the
    files' columns, before any row is read."""

    pred_cols: list[str]
    n_classes: int | None
    binary: bool
    class_names: list[str] | None  # the classes' names, for class-name labels
    column_names: list[str] | None  # the prediction columns' names, for messages
    label_source: Table | None = None
    label_form: str | None = None  # one of infocli.metrics.state.LABEL_FORMS
    label_vector: str | None = None
    target_cols: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the report warns of the layout


def layout_of(preds: Table, labels: Table | None, options: EvalOptions) -> Layout:
    """Decide which columns hold the predictions and the labels.

    Args:
        preds: The predictions file.
        labels: The labels file, or None (the labels may then sit in ``preds``).
        options: The settings.

    Returns:
        The layout.

    Raises:
        InfoCliError: Missing or unusable columns, or classes that do not match.
    """
    name = options.label_name
    if options.pred_cols:
        pred_cols = list(options.pred_cols)
        for col in pred_cols:
            preds.require(col, param("pred_cols"))
    else:
        pred_cols = [c.name for c in preds.columns if c.name != name]
        if not pred_cols:
            raise InfoCliError(f"no prediction columns besides {name!r}", path=preds.path)
    duplicates = sorted(c for c, n in Counter(pred_cols).items() if n > 1)
    if duplicates:
        raise InfoCliError(
            f"column name {duplicates[0]!r} appears more than once among the prediction columns",
            path=preds.path,
            hint="Give every class column its own name",
        )
    columns = [preds.require(col, param("pred_cols")) for col in pred_cols]
    if len(columns) == 1 and columns[0].kind == "list":
        n_classes, binary, class_names = columns[0].width, False, None
    else:
        for column in columns:
            found = preds.non_number(column.name) if column.kind == "string" else None
            if found is not None:  # a number column with a bad field: name its row
                found.hint = f"Pass {param('pred_cols')} to choose the class columns"
                raise found
            if column.kind != "number" and preds.unnamed:
                raise InfoCliError(f"the array holds {column.type}; expected numbers", path=preds.path)
            if column.kind != "number":
                what = (
                    "a list column among others" if column.kind == "list" else f"not numeric ({column.type})"
                )
                raise InfoCliError(
                    f"prediction column {column.name!r} is {what}",
                    path=preds.path,
                    hint=f"Pass {param('pred_cols')} to choose the class columns",
                )
        n_classes, binary = len(columns), len(columns) == 1
        class_names = pred_cols if not binary else None
    if n_classes == 0:
        raise InfoCliError("the predictions have no classes (0 columns)", path=preds.path)
    named = columns[0].kind != "list" and all(pred_cols)
    layout = Layout(pred_cols, 2 if binary else n_classes, binary, class_names, pred_cols if named else None)

    source = labels
    if labels is None and preds.column(name) is not None:
        source = preds
    if source is None:
        if options.label_col is not None:
            preds.require(name, param("label_col"))
        return layout
    layout.label_source = source
    vector = source.column(name)
    if vector is None and options.label_col is not None:
        source.require(name, param("label_col"))
    if vector is None and len(source.columns) == 1:
        vector = source.columns[0]
    if vector is not None and vector.kind == "list":
        layout.label_form, layout.target_cols = "dist", [vector.name]
        check_target_width(layout, vector.width, source)
        _matched_by_name([], layout, source)
    elif vector is not None:
        if vector.kind not in ("number", "bool", "string"):
            what = "the array" if source.unnamed else f"label column {vector.name!r}"
            raise InfoCliError(
                f"{what} has type {vector.type}; expected class indices or names", path=source.path
            )
        layout.label_vector = vector.name
        layout.label_form = "name" if vector.kind == "string" else "index"
        if layout.label_form == "name" and layout.class_names is None:
            raise InfoCliError(
                "labels are class names, but the prediction columns have no names to match",
                path=source.path,
                hint="Use class indices, or name the prediction columns after the classes",
            )
    else:
        for column in source.columns:
            if column.kind != "number":
                raise InfoCliError(
                    f"column {column.name!r} is not numeric ({column.type}), so the file cannot be "
                    f"read as target distributions, and it has no {name!r} column",
                    path=source.path,
                    hint=f"Name the label column with {param('label_col')}",
                )
        check_target_width(layout, len(source.columns), source)
        layout.label_form = "dist"
        layout.target_cols = _matched_by_name([c.name for c in source.columns], layout, source)
    return layout


def _matched_by_name(target_cols: list[str], layout: Layout, source: Table) -> list[str]:
    """The target columns in class order: matched to the prediction classes by name when
    both sides have names, by position when neither has (with a warning when one has).

    Raises:
        InfoCliError: Both sides have names and they differ as sets (the difference named).
    """
    classes = layout.class_names
    named = bool(target_cols) and all(target_cols)
    if classes and named:
        if set(target_cols) != set(classes):
            missing = [c for c in classes if c not in set(target_cols)]
            extra = [c for c in target_cols if c not in set(classes)]
            difference = "; ".join(
                part
                for part in (
                    f"no target column for {', '.join(map(repr, missing))}" if missing else "",
                    f"target column(s) {', '.join(map(repr, extra))} name no prediction class"
                    if extra
                    else "",
                )
                if part
            )
            raise InfoCliError(
                f"the target columns do not name the prediction classes: {difference}",
                path=source.path,
                hint="Name the target columns after the classes (in any order), or neither file's columns",
            )
        return list(classes)  # matched by name, whatever the file order
    if classes or named:
        unnamed = "the targets have" if classes else "the predictions have"
        layout.warnings.append(
            f"{source.path}: target distributions matched to the prediction classes by position, "
            f"as {unnamed} no class names"
        )
    return target_cols


def check_target_width(layout: Layout, width: int | None, source: Table) -> None:
    """Refuse target distributions with another number of classes than the predictions.

    Raises:
        InfoCliError: Naming both numbers.
    """
    if width is not None and layout.n_classes is not None and width != layout.n_classes:
        raise InfoCliError(
            f"target distributions have {width} classes but the predictions have {layout.n_classes}",
            path=source.path,
        )


@dataclass(frozen=True)
class EvalPlan:
    """Every decision of an evaluation, frozen before its chunks are scored.

    Attributes:
        layout: The columns (see :class:`Layout`).
        kind: How the predictions are read (decided, one of the input kinds).
        target_kind: How target distributions are read (None unless the labels are).
        kind_auto: Whether ``kind`` was detected.
        target_kind_auto: Whether ``target_kind`` was detected.
        options: The settings as given.
        predictions: What the report says about the predictions file.
        labels: ... and about the labels file, if there is one.
    """

    layout: Layout
    kind: str
    target_kind: str | None
    kind_auto: bool
    target_kind_auto: bool
    options: EvalOptions
    predictions: InputInfo
    labels: InputInfo | None

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        assert self.layout.n_classes is not None
        return self.layout.n_classes

    def settings(self) -> dict[str, Any]:
        """Everything that changes a sum, in signature order; what merging states compares.

        Returns:
            Plain values (JSON-ready).
        """
        o, layout = self.options, self.layout
        return {
            "kind": self.kind,
            "binary": layout.binary,
            "label_form": layout.label_form,
            "target_kind": self.target_kind,
            "n_classes": self.n_classes,
            "class_names": None if layout.class_names is None else list(layout.class_names),
            "eps": float(o.eps),
            "temperature": float(o.temperature),
            "tol": float(o.tol),
            "ignore_index": o.ignore_index if layout.label_form == "index" else None,
            "js_beta": float(o.js_beta) if o.js and layout.label_form == "dist" else None,
            "t2": o.t2 and self.t2_ignored() is None,
            "format_version": FORMAT_VERSION,
            "calibration": {"bins": o.bins, "strategy": o.bin_strategy}
            if o.calibration and layout.label_form is not None
            else None,
            "fit_temperature": True if o.fit_temperature and layout.label_form is not None else None,
        }

    def decided(self) -> Decided:
        """The kinds this plan settled from the data (see :class:`Decided`)."""
        return Decided(self.kind, self.target_kind, self.n_classes)

    def t2_ignored(self) -> str | None:
        """Why ``t2`` cannot apply to this evaluation, or None if it can."""
        return t2_ignored(self.options, self.layout.label_form)

    def description(self) -> dict[str, Any]:
        """What the report says about the inputs.

        Returns:
            ``{"predictions": {...}, "labels": {...} or None}``.
        """
        labels = None if self.labels is None else vars(self.labels).copy()
        return {"predictions": vars(self.predictions).copy(), "labels": labels}

    def scorer(self) -> Scorer:
        """The scorer of this plan's chunks."""
        o, layout = self.options, self.layout
        return Scorer(
            self.settings(),
            kind=self.kind,
            target_kind=self.target_kind or "probs",
            temperature=o.temperature,
            eps=o.eps,
            tol=o.tol,
            binary=layout.binary,
            class_names=layout.column_names,
            target_names=layout.target_cols if len(layout.target_cols) > 1 else None,
            kind_auto=self.kind_auto,
            target_kind_auto=self.target_kind_auto,
        )


@dataclass(frozen=True)
class Decided:
    """The decisions of a plan that come from the data rather than the files' columns:
    what the later shards of a dataset are read with, on this process or another."""

    kind: str
    target_kind: str | None
    n_classes: int  # of a list column whose width only its rows tell


def plan_eval(
    preds: Table,
    layout: Layout,
    options: EvalOptions,
    first_values: np.ndarray | None,
    first_targets: np.ndarray | None,
    decided: Decided | None = None,
) -> EvalPlan:
    """Settle the kinds (from the first chunk where ``auto``) and freeze the plan.

    Args:
        preds: The predictions file.
        layout: Its columns and the labels' (:func:`layout_of`).
        options: The settings.
        first_values: The first chunk of prediction scores (None if there are no rows).
        first_targets: The first chunk of target scores, for target distributions.
        decided: The kinds an earlier shard of the same dataset settled, if any: they are
            taken as they are.

    Returns:
        The plan.
    """
    kind = options.kind
    if decided is not None:
        kind = decided.kind
    elif kind == "auto":
        kind = _detect(first_values, options.tol)
    if options.fit_temperature and kind == "probs" and layout.label_form is not None:
        raise InfoCliError(
            f"{param('fit_temperature')} needs logits or log-probabilities, but the predictions were read "
            "as probabilities",
            path=preds.path,
            hint=f"Pass {param('kind')} logits or logprobs if that is what they are",
        )
    target_kind = None
    if layout.label_form == "dist":
        target_kind = options.target_kind
        if decided is not None:
            target_kind = decided.target_kind
        elif target_kind == "auto":
            target_kind = _detect(first_targets, options.tol)
    labels = None
    if layout.label_source is not None:
        source = layout.label_source
        labels = InputInfo(source.path, source.format, target_kind or layout.label_form or "")
    return EvalPlan(
        layout,
        kind,
        target_kind,
        options.kind == "auto",
        layout.label_form == "dist" and options.target_kind == "auto",
        options,
        InputInfo(preds.path, preds.format, kind),
        labels,
    )


def _detect(values: np.ndarray | None, tol: float) -> str:
    """The kind of a chunk of scores (probabilities for no rows: any kind reads none)."""
    if values is None or not len(values):
        return "probs"
    return detect_kind(as_float(values.reshape(-1, 1) if values.ndim == 1 else values), tol=tol)


def signature(settings: Mapping[str, Any], base: str) -> str:
    """Every setting that changes a number, in one short string; the version last.

    Floats are written in full (``repr``), so runs whose numbers differ never share one.

    Args:
        settings: A state's settings (:meth:`EvalPlan.settings`, or a token state's).
        base: The report's log base.

    Returns:
        For example ``preds:logits|labels:index|base:e|eps:1e-12|T:1.0|tol:0.001|version:0.1.0``.
    """
    if "dims" in settings:  # a latent state
        parts = [
            f"param:{settings['param']}",
            f"prior:{settings['prior_param'] or 'standard'}",
            f"base:{base}",
        ]
        parts += [f"dims:{len(settings['dims'])}", f"au:{settings['au_threshold']!r}"]
        parts.append(f"collapse:{settings['collapse_threshold']!r}")
        if settings["free_bits"] is not None:
            parts.append(f"free_bits:{settings['free_bits']!r}")
    elif "logprob_base" in settings:  # a token state
        parts = [f"logprob_base:{settings['logprob_base']}", f"base:{base}"]
        parts += [f"seq:{'yes' if settings['seq'] else 'no'}", f"mask:{'yes' if settings['mask'] else 'no'}"]
    else:
        labels = settings["target_kind"] or settings["label_form"] or "none"
        parts = [f"preds:{settings['kind']}", f"labels:{labels}", f"base:{base}"]
        parts += [f"eps:{settings['eps']!r}", f"T:{settings['temperature']!r}", f"tol:{settings['tol']!r}"]
        if settings["ignore_index"] is not None:
            parts.append(f"ignore:{settings['ignore_index']}")
        if settings.get("calibration") is not None:  # the bin rule: (lower, upper], the first [0, upper]
            calibration = settings["calibration"]
            parts.append(f"bins:{calibration['strategy']}-{calibration['bins']}-right-closed")
        if settings.get("fit_temperature"):
            parts.append("fitT:grid64-0.05-20")
        if "candidate_kinds" in settings:  # a comparison: the candidates and the tests
            parts.insert(1, f"candidates:{','.join(settings['candidate_kinds'])}")
            parts += [f"confidence:{settings['confidence']!r}", f"alpha:{settings['alpha']!r}"]
        if settings.get("js_beta") is not None:
            parts.append(f"js_beta:{settings['js_beta']!r}")
        if settings.get("t2"):
            parts.append("t2:yes")
    return "|".join([*parts, f"version:{__version__}"])
