"""Self-describing states: the sums and counts of a command's statistics, with the settings
they were computed under, mergeable exactly and saved as JSON.

A state never holds rows. ``merge`` first checks that both states were computed under the
same settings (:func:`settings_difference`); ``to_dict``/``from_dict`` carry a state
through a JSON file with every float64 written so that it reads back bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infocli import __version__
from infocli.errors import InfoCliError
from infocli.metrics.calibration import STRATEGIES, CalibrationState
from infocli.metrics.inputs import KINDS
from infocli.metrics.moments import Moments
from infocli.metrics.registry import UNITS, metrics_of, reported
from infocli.metrics.sketch import Sketch
from infocli.metrics.temperature import TemperatureFit

FORMAT_VERSION = 1
"""The version of the state-file format this infocli writes and reads."""

LABEL_FORMS = ("index", "name", "dist")
"""Class indices, class names, or target distributions."""

_SHOWN = {"temperature": "temperature", "class_names": "classes", "n_classes": "n_classes"}


def settings_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """The first setting two states differ in, as ``"eps 1e-12 vs 0"``; None if none.

    Args:
        a: One state's settings.
        b: The other's.

    Returns:
        The difference, or None.
    """
    for key in dict.fromkeys([*a, *b]):
        x, y = a.get(key), b.get(key)
        if x != y or type(x) is not type(y) and not (_number(x) and _number(y)):
            return f"{_SHOWN.get(key, key)} {_show(x)} vs {_show(y)}"
    return None


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def check_mergeable(a: Mapping[str, Any], b: Mapping[str, Any]) -> None:
    """Refuse to merge states of different settings.

    Args:
        a: One state's settings.
        b: The other's.

    Raises:
        InfoCliError: Naming the first difference.
    """
    difference = settings_difference(a, b)
    if difference is not None:
        raise InfoCliError(f"the states were computed under different settings: {difference}")


def to_json_float(value: float) -> float | str:
    """A float for strict JSON: ``"inf"``, ``"-inf"`` or ``"nan"`` where JSON has no number.

    Args:
        value: Any float.

    Returns:
        The float itself (written by ``repr``, so it reads back exactly), or a string.
    """
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def from_json_float(value: Any, what: str) -> float:
    """The float :func:`to_json_float` wrote.

    Args:
        value: A JSON number or one of the strings ``"inf"``, ``"-inf"``, ``"nan"``.
        what: The field, for the message.

    Returns:
        The float.

    Raises:
        InfoCliError: Anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InfoCliError(f"{what} is {value!r}; expected a number")
    if isinstance(value, str):
        if value not in ("inf", "-inf", "nan"):
            raise InfoCliError(f"{what} is {value!r}; expected a number")
    return float(value)


def count(value: Any, what: str) -> int:
    """A non-negative count from a state file.

    Args:
        value: A JSON value.
        what: The field, for the message.

    Returns:
        The count.

    Raises:
        InfoCliError: Not an integer, or negative.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InfoCliError(f"{what} is {value!r}; expected a count (an integer >= 0)")
    return value


Check = tuple[Callable[[Any], bool], str]
"""A setting's test, and what it expects (for the message)."""


def real(low: float, *, strict: bool = False) -> Check:
    def test(x: Any) -> bool:
        return _number(x) and math.isfinite(x) and (x > low if strict else x >= low)

    return test, f"a number {'>' if strict else '>='} {low:g}"


def one_of(*values: Any) -> Check:
    return (lambda x: x in values and not isinstance(x, bool)), "one of " + ", ".join(map(_show, values))


def optional(check: Check) -> Check:
    return (lambda x: x is None or check[0](x)), f"null or {check[1]}"


def between(low: float, high: float) -> Check:
    """A number strictly between two bounds."""
    return (lambda x: _number(x) and low < x < high), f"a number in ({low:g}, {high:g})"


BOOL: Check = (lambda x: isinstance(x, bool)), "true or false"
INTEGER: Check = (lambda x: isinstance(x, int) and not isinstance(x, bool)), "an integer"
POSITIVE: Check = (lambda x: INTEGER[0](x) and x >= 1), "an integer >= 1"
NAMES: Check = (lambda x: isinstance(x, list) and all(isinstance(v, str) for v in x)), "a list of names"

EVAL_SETTINGS: dict[str, Check] = {
    "kind": one_of(*KINDS),
    "binary": BOOL,
    "label_form": optional(one_of(*LABEL_FORMS)),
    "target_kind": optional(one_of(*KINDS)),
    "n_classes": POSITIVE,
    "class_names": optional(NAMES),
    "eps": real(0.0),
    "temperature": real(0.0, strict=True),
    "tol": real(0.0, strict=True),
    "ignore_index": optional(INTEGER),
    "js_beta": optional(between(0.0, 1.0)),
    "t2": BOOL,
    "format_version": POSITIVE,
    "calibration": optional(
        (
            lambda x: (
                isinstance(x, dict)
                and set(x) == {"bins", "strategy"}
                and POSITIVE[0](x["bins"])
                and x["strategy"] in STRATEGIES
            ),
            f"bins (an integer >= 1) and strategy ({', '.join(STRATEGIES)})",
        )
    ),
    "fit_temperature": ((lambda x: x is None or x is True), "null or true"),
}
"""The settings an eval state holds, each with its test."""

CALIBRATION_OFF = {"calibration": None, "fit_temperature": None}
"""The calibration settings of a state file written before they existed: off."""


def header(state: Any) -> dict[str, Any]:
    """What every state file starts with: its format, command, writer, settings and inputs.

    Args:
        state: An :class:`EvalState` or a token state.

    Returns:
        The first keys of its :meth:`to_dict`.
    """
    return {
        "format_version": FORMAT_VERSION,
        "command": state.command,
        "infocli_version": __version__,
        "settings": dict(state.settings),
        "inputs": list(state.inputs),
    }


def check_settings_shape(data: Mapping[str, Any], schema: Mapping[str, Check]) -> dict[str, Any]:
    """A state file's settings, refused unless they hold exactly the keys of ``schema``,
    each passing its test, and the file's own format version.

    Args:
        data: The state file's content.
        schema: Setting name -> (test, what it expects).

    Returns:
        The settings.

    Raises:
        InfoCliError: Naming the first setting that is missing, unknown or wrong.
    """
    settings = data.get("settings")
    if not isinstance(settings, dict):
        raise InfoCliError("settings are missing")
    # settings added since format 1 began, off where a file does not have them
    settings = {**settings, **{k: v for k, v in CALIBRATION_OFF.items() if k in schema and k not in settings}}
    for key in dict.fromkeys([*schema, *settings]):
        if key not in settings or key not in schema:
            what = "missing" if key in schema else "not a setting of this command"
            raise InfoCliError(f"settings.{key} is {what}")
        test, expected = schema[key]
        if not test(settings[key]):
            raise InfoCliError(f"settings.{key} is {settings[key]!r}; expected {expected}")
    if settings["format_version"] != data.get("format_version"):
        raise InfoCliError(
            f"settings.format_version {settings['format_version']!r} is not the file's "
            f"format_version {data.get('format_version')!r}"
        )
    return settings


def check_inputs(value: Any, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    """A state file's inputs: at least one part, each naming its files by role.

    Args:
        value: The ``inputs`` list.
        roles: The roles of a part (``predictions``, ``labels``; ``tokens``); every role but
            the first may be null.

    Returns:
        The inputs.

    Raises:
        InfoCliError: Not a list of such parts.
    """
    fields = ("path", "format", "kind")

    def described(info: Any) -> bool:
        return (
            isinstance(info, dict)
            and set(info) == set(fields)
            and all(isinstance(info[f], str) for f in fields)
        )

    if not isinstance(value, list) or not value:
        raise InfoCliError("inputs must be a non-empty list of input descriptions")
    for part in value:
        if not (
            isinstance(part, dict)
            and set(part) == set(roles)
            and described(part[roles[0]])
            and all(part[r] is None or described(part[r]) for r in roles[1:])
        ):
            raise InfoCliError(
                f"inputs holds {part!r}; expected {', '.join(roles)}, each with {', '.join(fields)}"
            )
    return value


def moments_to_dict(m: Moments) -> dict[str, Any]:
    """A :class:`Moments` as JSON-ready numbers."""
    return {"n": m.n, "sum": to_json_float(m.total), "m2": to_json_float(m.m2)}


def moments_from_dict(d: Any, what: str) -> Moments:
    """A :class:`Moments` from :func:`moments_to_dict`, checked for impossible contents.

    Raises:
        InfoCliError: A negative count, a NaN sum, a negative or NaN spread where the sum is finite.
    """
    if not isinstance(d, dict):
        raise InfoCliError(f"{what} is {d!r}; expected an object with n, sum and m2")
    n = count(d.get("n"), f"{what}.n")
    total = from_json_float(d.get("sum"), f"{what}.sum")
    m2 = from_json_float(d.get("m2"), f"{what}.m2")
    if math.isnan(total):
        raise InfoCliError(f"{what}.sum is NaN, which no valid input gives")
    if math.isfinite(total) and not 0 <= m2 < math.inf:
        raise InfoCliError(f"{what}.m2 is {m2!r}; expected a finite number >= 0")
    if n == 0 and (total != 0 or m2 != 0):
        raise InfoCliError(f"{what} has no values but a sum of {total!r}")
    return Moments(n, total, m2)


@dataclass(frozen=True)
class Renormalised:
    """Rows of one input file that summed to 1 only within the tolerance and were
    renormalised: how many, and the first one's row and sum (for the warning)."""

    path: str
    count: int
    first_row: int
    first_sum: float

    def merged(self, other: Renormalised) -> Renormalised:
        """Both notes of one file as one: the counts added, the earlier first row kept."""
        first = self if self.first_row <= other.first_row else other
        return Renormalised(self.path, self.count + other.count, first.first_row, first.first_sum)


@dataclass(frozen=True)
class Results:
    """The reported numbers, derived from an :class:`EvalState` alone."""

    metrics: dict[str, float]
    standard_error: dict[str, float]
    n_samples: int
    n_clipped: int
    base: str
    percentiles: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per metric with ``percentiles`` in the registry, the summary of its per-row values."""
    calibration: Any = None  # infocli.metrics.calibration.Calibration, with --calibration
    binary: bool = False
    temperature: float | None = None  # T* of the cross-entropy, with --fit-temperature

    @property
    def unit(self) -> str:
        """nats, bits or hartleys."""
        return UNITS[self.base]


STATISTICS = ("entropy", "target_entropy", "cross_entropy", "kl_divergence", "accuracy")
STATISTICS += ("reverse_kl_divergence", "js_divergence")  # target distributions only
"""The per-row statistics of an evaluation, each kept as :class:`Moments` in nats."""

_DERIVED = {"perplexity": "cross_entropy"}
"""Metrics that are exp of another statistic's mean in nats, their standard error by the delta method."""

_READS = {"top1_agreement": "accuracy"}
"""Metrics that read a statistic of another name (the hits, against target distributions)."""

SKETCHED = ("kl_divergence",)
"""The statistics whose per-row values are also kept in a :class:`Sketch`, for percentiles,
against target distributions (against class labels the sketch would cost more than the
scoring itself: see BENCHMARKS.md)."""

_CALIBRATED = ("calibration", "fit_temperature")
"""The ``needs`` of metrics reported only when a setting asks for them."""


@dataclass
class EvalState:
    """Sums and counts from which every metric of ``eval`` follows; merging equals concatenating.

    Each per-row quantity keeps a :class:`Moments` (count, sum, squared deviations) in
    nats, so states from chunks, files or machines merge exactly and the base is chosen
    only at :meth:`compute`.

    Attributes:
        settings: Everything that changes a sum (kinds, label form, classes, eps,
            temperature, tolerance, ignore_index, the format version): states merge only
            when these are equal.
        inputs: What the report says about each part's inputs, in merge order.
        stats: The per-row statistics, by name (:data:`STATISTICS`).
        n_clipped: Cross-entropy terms floored at eps.
        n_ignored: Rows left out for their label.
        renormalised: Rows renormalised within the tolerance, per input file.
        n_clipped_reverse: Reverse-KL terms whose target probability was floored at eps.
        sketches: Per statistic of :data:`SKETCHED`, a sketch of its per-row values.

    Example:
        >>> import numpy as np
        >>> from infocli.metrics.inputs import to_distributions
        >>> from infocli.metrics.scores import score_rows
        >>> state = EvalState({})
        >>> q = to_distributions(np.full((2, 4), 0.25), "probs")
        >>> state.update(score_rows(q, np.array([0, 3]), eps=1e-12))
        >>> r = state.compute()
        >>> round(r.metrics["entropy"], 3), round(r.metrics["perplexity"], 6)
        (1.386, 4.0)
    """

    settings: dict[str, Any]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Moments] = field(default_factory=lambda: {name: Moments() for name in STATISTICS})
    n_clipped: int = 0
    n_ignored: int = 0
    renormalised: dict[str, Renormalised] = field(default_factory=dict)
    n_clipped_reverse: int = 0
    sketches: dict[str, Sketch] = field(default_factory=dict)
    calibration: CalibrationState | None = None
    brier: Moments | None = None
    temperature_fit: TemperatureFit | None = None

    command = "eval"

    def __post_init__(self) -> None:
        calibration = self.settings.get("calibration")
        if calibration is not None and self.calibration is None:
            self.calibration = CalibrationState(
                calibration["bins"], calibration["strategy"], self.settings["n_classes"]
            )
            self.brier = Moments()
        if self.settings.get("fit_temperature") and self.temperature_fit is None:
            self.temperature_fit = TemperatureFit()

    @property
    def n_samples(self) -> int:
        """Rows accumulated."""
        return self.stats["entropy"].n

    @property
    def n_renormalised(self) -> int:
        """Rows renormalised within the tolerance, over every input file."""
        return sum(note.count for note in self.renormalised.values())

    @property
    def has_targets(self) -> bool:
        """Whether the rows came with labels or target distributions."""
        return self.settings.get("label_form") is not None or self.stats["cross_entropy"].n > 0

    @property
    def distribution_targets(self) -> bool:
        """Whether the targets are distributions (not class labels)."""
        form = self.settings.get("label_form")
        return form == "dist" if form is not None else self.stats["reverse_kl_divergence"].n > 0

    @property
    def targets(self) -> str | None:
        """``"classes"``, ``"distributions"``, or None without targets."""
        if not self.has_targets:
            return None
        return "distributions" if self.distribution_targets else "classes"

    def update(self, scores: Any) -> None:
        """Accumulate one chunk's per-row terms.

        Args:
            scores: A :class:`infocli.metrics.scores.RowScores`.
        """
        stats = self.stats
        stats["entropy"].add(scores.entropy)
        self.n_clipped += scores.n_clipped
        if scores.cross_entropy is None:
            return
        cross_entropy = Moments.of(scores.cross_entropy)
        stats["cross_entropy"].merge(cross_entropy)
        if scores.class_indices:
            stats["kl_divergence"].merge(cross_entropy)
            stats["target_entropy"].merge(Moments(cross_entropy.n, 0.0, 0.0))
        else:
            stats["kl_divergence"].add(scores.kl_divergence)
            stats["target_entropy"].add(scores.target_entropy)
        stats["accuracy"].merge(Moments.of(scores.correct))
        if scores.reverse_kl_divergence is not None:  # target distributions
            self._sketch("kl_divergence").add(scores.kl_divergence)
            stats["reverse_kl_divergence"].add(scores.reverse_kl_divergence)
            self.n_clipped_reverse += scores.n_clipped_reverse
        if scores.js_divergence is not None:
            stats["js_divergence"].add(scores.js_divergence)
        rows = scores.calibration
        if rows is not None and self.calibration is not None and self.brier is not None:
            self.calibration.update(rows.confidence, rows.outcome, probs=rows.probs, labels=rows.labels)
            self.brier.add(rows.brier)

    def note_renormalised(self, note: Renormalised) -> None:
        """Count rows of an input file renormalised within the tolerance.

        Args:
            note: The rows.
        """
        if note.count:
            old = self.renormalised.get(note.path)
            self.renormalised[note.path] = note if old is None else old.merged(note)

    def merge(self, other: EvalState) -> None:
        """Fold in another state (another chunk, file, process or machine).

        Args:
            other: A state of the same settings.

        Raises:
            InfoCliError: The settings differ (the first difference is named).
        """
        if other.settings is not self.settings:
            check_mergeable(self.settings, other.settings)
        for name, moments in other.stats.items():
            self.stats[name].merge(moments)
        self.n_clipped += other.n_clipped
        self.n_ignored += other.n_ignored
        for note in other.renormalised.values():
            self.note_renormalised(note)
        self.inputs.extend(other.inputs)
        self.n_clipped_reverse += other.n_clipped_reverse
        for name, sketch in other.sketches.items():
            self.sketches.setdefault(name, Sketch()).merge(sketch)
        if self.calibration is not None and other.calibration is not None:
            self.calibration.merge(other.calibration)
        if self.brier is not None and other.brier is not None:
            self.brier.merge(other.brier)
        if self.temperature_fit is not None and other.temperature_fit is not None:
            self.temperature_fit.merge(other.temperature_fit)

    def compute(self, base: str = "e") -> Results:
        """The metrics and their standard errors, in the units of ``base``.

        Without targets only the metrics that need none are reported. Perplexity is exp
        of the mean cross-entropy in nats (infinite past the float range) and the same in
        every base; its standard error follows by the delta method. Under the ``t2``
        setting the divergences the registry marks (their values, standard errors and
        percentiles) are multiplied by T².

        Args:
            base: ``"e"`` (nats), ``"2"`` (bits) or ``"10"`` (hartleys).

        Returns:
            The results.
        """
        metrics: dict[str, float] = {}
        errors: dict[str, float] = {}
        percentiles: dict[str, dict[str, float]] = {}
        t2 = self.settings["temperature"] ** 2 if self.settings.get("t2") else 1.0
        calibration, temperature, calibrated = None, None, {}
        if self.calibration is not None and self.brier is not None and self.targets is not None:
            calibration = self.calibration.compute()
            # NaN for the classwise ECE when it was skipped (warned)
            calibrated = {"classwise_ece": math.nan, "brier_score": self.brier.mean, **calibration.group(0)}
        if self.temperature_fit is not None and self.targets is not None:
            temperature = calibrated["fitted_temperature"] = self.temperature_fit.best()
        for metric in metrics_of("eval"):
            if not reported(metric, self.targets, self.settings):
                continue
            name = metric.name
            if metric.option in _CALIBRATED:
                metrics[name] = calibrated[name]
                if metric.standard_error != "none":
                    assert self.brier is not None
                    errors[name] = self.brier.std_error
                continue
            if name in _DERIVED:
                moments = self.stats[_DERIVED[name]]
                metrics[name] = exp_or_inf(moments.mean)
                errors[name] = metrics[name] * moments.std_error
            else:
                moments = self.stats[_READS.get(name, name)]
                scale = (t2 if metric.t2_scaled else 1.0) / metric.divisor(base)
                metrics[name] = moments.mean * scale
                errors[name] = moments.std_error * scale
                sketch = self.sketches.get(name)
                if metric.percentiles and sketch is not None and sketch.n:
                    percentiles[name] = sketch.summary(scale)
        binary = bool(self.settings.get("binary"))
        return Results(
            metrics,
            errors,
            self.n_samples,
            self.n_clipped,
            base,
            percentiles,
            calibration,
            binary,
            temperature,
        )

    def warnings(self) -> list[str]:
        """What the report warns of: rows renormalised, terms floored at eps.

        Returns:
            One line per warning, parameters marked with :func:`infocli.errors.param`.
        """
        from infocli.errors import param

        tol, eps = self.settings.get("tol"), self.settings.get("eps")
        lines = [
            f"{note.path}: {note.count:,} rows summed to 1 only within {param('tol')} {tol!r} and were "
            f"renormalised (first: row {note.first_row}, sum {note.first_sum:.9g})"
            for note in self.renormalised.values()
        ]
        if not self.n_samples and self.n_ignored:
            lines.append(
                f"no rows to score: all {self.n_ignored:,} rows were left out by {param('ignore_index')}, "
                "so the metrics are NaN"
            )
        if self.calibration is not None and self.calibration.classwise_skipped:
            lines.append(self.calibration.classwise_skipped + ", so it is reported as NaN")
        if self.temperature_fit is not None and self.temperature_fit.at_edge():
            lines.append(
                f"the fitted temperature is at the end of the grid ({self.temperature_fit.best():g}); "
                "the cross-entropy may fall further beyond it"
            )
        if self.n_clipped:
            lines.append(
                f"{self.n_clipped:,} cross-entropy terms had a probability below {param('eps')} {eps!r} "
                "and were floored at it"
            )
        if self.n_clipped_reverse:
            lines.append(
                f"{self.n_clipped_reverse:,} reverse-KL terms had a target probability below "
                f"{param('eps')} {eps!r} where the prediction's was not 0, and were floored at it"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data (see the README's state-file schema).

        Returns:
            A dictionary of plain values; every float reads back bit for bit.
        """
        return {
            **header(self),
            "n_samples": self.n_samples,
            "n_ignored": self.n_ignored,
            "n_clipped": self.n_clipped,
            "n_renormalised": self.n_renormalised,
            "renormalised": [
                {"path": r.path, "count": r.count, "first_row": r.first_row, "first_sum": r.first_sum}
                for r in self.renormalised.values()
            ],
            "statistics": {name: moments_to_dict(m) for name, m in self.stats.items()},
            "n_clipped_reverse": self.n_clipped_reverse,
            "sketches": {name: self._sketch(name).to_dict() for name in self._sketched()},
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
            "brier_score": None if self.brier is None else moments_to_dict(self.brier),
            "temperature_fit": None if self.temperature_fit is None else self.temperature_fit.to_dict(),
        }

    def _sketched(self) -> tuple[str, ...]:
        """The statistics this state keeps sketches of: :data:`SKETCHED`, against target distributions."""
        return SKETCHED if self.distribution_targets else ()

    def _sketch(self, name: str) -> Sketch:
        """The sketch of a statistic (empty before any row)."""
        return self.sketches.setdefault(name, Sketch())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalState:
        """Rebuild a state from :meth:`to_dict`, refusing impossible contents.

        Args:
            data: The dictionary (already checked for its format version and command).

        Returns:
            The state.

        Raises:
            InfoCliError: A missing field, a negative count, more clipped terms than
                scored terms, a NaN sum, or counts that do not add up.
        """
        settings = check_settings_shape(data, EVAL_SETTINGS)
        raw = data.get("statistics")
        if not isinstance(raw, dict) or set(raw) != set(STATISTICS):
            raise InfoCliError(f"statistics must hold exactly {', '.join(STATISTICS)}")
        stats = {name: moments_from_dict(raw[name], f"statistics.{name}") for name in STATISTICS}
        state = cls(settings, check_inputs(data.get("inputs"), ("predictions", "labels")), stats)
        state.n_clipped = count(data.get("n_clipped"), "n_clipped")
        state.n_ignored = count(data.get("n_ignored"), "n_ignored")
        for note in data.get("renormalised") or []:
            if not isinstance(note, dict) or not isinstance(note.get("path"), str):
                raise InfoCliError(f"renormalised holds {note!r}; expected path, count, first_row, first_sum")
            state.note_renormalised(
                Renormalised(
                    note["path"],
                    count(note.get("count"), "renormalised.count"),
                    count(note.get("first_row"), "renormalised.first_row"),
                    from_json_float(note.get("first_sum"), "renormalised.first_sum"),
                )
            )
        n = state.n_samples
        if count(data.get("n_samples"), "n_samples") != n:
            raise InfoCliError(f"n_samples is {data.get('n_samples')!r} but the statistics hold {n} rows")
        with_targets = stats["cross_entropy"].n
        for name in ("target_entropy", "kl_divergence", "accuracy", "cross_entropy"):
            if stats[name].n not in (0, n) or stats[name].n != with_targets:
                raise InfoCliError(f"statistics.{name} holds {stats[name].n} rows; expected {with_targets}")
        terms = with_targets * settings["n_classes"] if settings["eps"] > 0 else 0
        if state.n_clipped > terms:
            raise InfoCliError(f"n_clipped is {state.n_clipped}, more than the {terms} terms scored")
        hits = stats["accuracy"].total
        if not (0 <= hits <= stats["accuracy"].n and hits == int(hits)):
            raise InfoCliError(
                f"statistics.accuracy.sum is {hits!r}; expected a whole number of hits, 0 to {stats['accuracy'].n}"
            )
        if stats["entropy"].total == math.inf:  # H(q) <= log n_classes on every row
            raise InfoCliError("statistics.entropy.sum is infinite, which no valid input gives")
        if settings["eps"] > 0 and stats["cross_entropy"].total == math.inf:
            raise InfoCliError("statistics.cross_entropy.sum is infinite, which eps > 0 rules out")
        if settings["label_form"] in ("index", "name") and (
            stats["target_entropy"] != Moments(with_targets, 0.0, 0.0)
            or stats["kl_divergence"] != stats["cross_entropy"]
        ):
            raise InfoCliError(
                "for class labels, statistics.target_entropy must be 0 and kl_divergence equal cross_entropy"
            )
        for note in state.renormalised.values():
            if note.count > n:
                raise InfoCliError(
                    f"renormalised lists {note.count} rows of {note.path}, more than the {n} scored"
                )
            if not abs(note.first_sum - 1) <= settings["tol"]:
                raise InfoCliError(
                    f"renormalised.first_sum is {note.first_sum!r}; a renormalised row sums to 1 within "
                    f"tol {settings['tol']!r}"
                )
        names = settings["class_names"]
        if settings["binary"] and (settings["n_classes"] != 2 or names is not None):
            raise InfoCliError("a binary state has 2 unnamed classes")
        if names is not None and len(names) != settings["n_classes"]:
            raise InfoCliError(
                f"settings.class_names lists {len(names)} classes but n_classes is {settings['n_classes']}"
            )
        if count(data.get("n_renormalised", state.n_renormalised), "n_renormalised") != state.n_renormalised:
            raise InfoCliError("n_renormalised does not match the renormalised rows listed")
        state._check_distillation(data)
        _read_calibration(state, data, with_targets)
        return state

    def _check_distillation(self, data: dict[str, Any]) -> None:
        """Read and check the reverse-KL and Jensen-Shannon statistics, the reverse KL's
        floored terms and the sketches (part of :meth:`from_dict`).

        Raises:
            InfoCliError: Statistics of rows the settings rule out, an infinite sum that
                cannot arise, more floored terms than terms, a sketch of other rows.
        """
        settings, stats = self.settings, self.stats
        with_targets = stats["cross_entropy"].n
        dist = settings["label_form"] == "dist"
        expected = {
            "reverse_kl_divergence": with_targets if dist else 0,
            "js_divergence": with_targets if dist and settings["js_beta"] is not None else 0,
        }
        for name, n in expected.items():
            if stats[name].n != n:
                raise InfoCliError(f"statistics.{name} holds {stats[name].n} rows; expected {n}")
        if stats["js_divergence"].total == math.inf:  # at most H(β) on every row
            raise InfoCliError("statistics.js_divergence.sum is infinite, which no valid input gives")
        if settings["eps"] > 0 and stats["reverse_kl_divergence"].total == math.inf:
            raise InfoCliError("statistics.reverse_kl_divergence.sum is infinite, which eps > 0 rules out")
        if settings["t2"] and not (dist and settings["temperature"] != 1):
            raise InfoCliError(
                "settings.t2 is true, but only target distributions at a temperature other than 1 are scaled"
            )
        self.n_clipped_reverse = count(data.get("n_clipped_reverse"), "n_clipped_reverse")
        terms = expected["reverse_kl_divergence"] * settings["n_classes"] if settings["eps"] > 0 else 0
        if self.n_clipped_reverse > terms:
            raise InfoCliError(
                f"n_clipped_reverse is {self.n_clipped_reverse}, more than the {terms} terms scored"
            )
        raw = data.get("sketches")
        names = SKETCHED if dist else ()
        if not isinstance(raw, dict) or set(raw) != set(names):
            raise InfoCliError(f"sketches must hold exactly {', '.join(names) or 'nothing'}")
        for name in names:
            sketch = Sketch.from_dict(raw[name], f"sketches.{name}")
            if sketch.n != stats[name].n:
                raise InfoCliError(f"sketches.{name} holds {sketch.n} rows; expected {stats[name].n}")
            self.sketches[name] = sketch


def _read_calibration(state: EvalState, data: dict[str, Any], with_targets: int) -> None:
    """The calibration parts of a state file, refused unless its settings ask for them."""
    settings = state.settings
    spec = settings["calibration"]
    for key, wanted in (("calibration", spec is not None), ("brier_score", spec is not None),
                        ("temperature_fit", settings["fit_temperature"] is not None)):  # fmt: skip
        if (data.get(key) is not None) != wanted:
            raise InfoCliError(
                f"{key} is {'missing' if wanted else 'present'}, but the settings say otherwise"
            )
    if spec is not None:
        calibration = CalibrationState.from_dict(data["calibration"], "calibration")
        if calibration.settings != {**spec, "n_classes": settings["n_classes"]} or calibration.n_groups != 1:
            raise InfoCliError(
                "calibration was accumulated under other bins or classes than the settings say"
            )
        brier = moments_from_dict(data["brier_score"], "brier_score")
        if int(calibration.n_samples.sum()) != with_targets or brier.n != with_targets:
            raise InfoCliError(f"calibration or brier_score holds another number of rows than {with_targets}")
        state.calibration, state.brier = calibration, brier
    if settings["fit_temperature"]:
        fit = TemperatureFit.from_dict(data["temperature_fit"], "temperature_fit")
        if fit.n != with_targets:
            raise InfoCliError(f"temperature_fit holds {fit.n} rows; expected {with_targets}")
        state.temperature_fit = fit


def exp_or_inf(x: float) -> float:
    """exp(x), infinite past the float range rather than an OverflowError."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf
