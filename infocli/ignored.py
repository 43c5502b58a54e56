"""Options a run cannot use: each is named in a warning rather than silently ignored.

An option left at its default changes nothing and is never named. The warnings go to
stderr (``infocli: warning:``) and into the JSON ``warnings``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from infocli.errors import param

if TYPE_CHECKING:
    from infocli.evaluate import EvalOptions
    from infocli.perplexity import PerplexityOptions

_LABELS = {None: "there are no labels", "index": "the labels are class indices"}
_LABELS |= {"name": "the labels are class names", "dist": "the labels are target distributions"}

EVAL_ONLY = ("kind", "target_kind", "pred_cols", "label_col", "temperature", "eps", "tol", "ignore_index")
"""Settings of ``trend`` that only checkpoints of predictions (``--labels``) use."""

TOKENS_ONLY = ("logprob_col", "logprob_base", "seq_col", "mask_col")
"""Settings of ``trend`` that only token checkpoints (no ``--labels``) use."""


def changed(options: Any) -> list[str]:
    """The settings of an options dataclass that differ from their defaults, in order.

    Args:
        options: An :class:`~infocli.evaluate.EvalOptions` or
            :class:`~infocli.perplexity.PerplexityOptions`.

    Returns:
        Field names.
    """
    return [f.name for f in fields(options) if getattr(options, f.name) != f.default]


def eval_ignored(
    options: EvalOptions,
    *,
    label_kind: str | None,
    pred_kind: str,
    target_kind: str | None,
    binary: bool,
    stdin: bool,
) -> list[str]:
    """Warnings for the options of an evaluation that had no effect on it.

    Args:
        options: The settings.
        label_kind: ``"index"``, ``"name"``, ``"dist"``, or None without labels.
        pred_kind: How the predictions were read (``auto`` decided).
        target_kind: How target distributions were read, for ``"dist"`` labels.
        binary: Whether the predictions are a single binary score.
        stdin: Whether an input was read from stdin (``-``).

    Returns:
        One warning per ignored option.
    """
    dist = label_kind == "dist"
    labels = _LABELS[label_kind]
    reasons = {}
    if label_kind != "index":
        reasons["ignore_index"] = f"it leaves out rows by their class index, and {labels}"
    if not dist:
        reasons["target_kind"] = f"it says how to read target distributions, and {labels}"
    # Rows of probabilities (or log-probabilities) must sum to 1 within --tol, and auto
    # uses it to tell log-probabilities from logits; two-class rows from one score do sum to 1.
    pred_tol = not binary and (options.kind == "auto" or pred_kind != "logits")
    target_tol = dist and (options.target_kind == "auto" or target_kind != "logits")
    if not pred_tol and not target_tol:
        read = ("a single binary score" if binary else "logits") + (" and the targets logits" if dist else "")
        reasons["tol"] = f"it bounds how far probability rows may sum from 1, and the predictions are {read}"
    if label_kind is None:
        reasons["eps"] = "it floors the cross-entropy and KL terms, which need labels"
    if not stdin:
        reasons["input_format"] = "it is the format of stdin (-), and no input is read from stdin"
    if not dist:
        reasons["js"] = reasons["js_beta"] = (
            f"the Jensen-Shannon divergence compares two distributions, and {labels}"
        )
    t2 = t2_ignored(options, label_kind)
    if t2 is not None:
        reasons["t2"] = t2
    return [f"{param(name)} is ignored: {reasons[name]}" for name in changed(options) if name in reasons]


def t2_ignored(options: EvalOptions, label_kind: str | None) -> str | None:
    """Why ``t2`` (multiply the divergences by T²) cannot apply, or None if it can.

    It applies to divergences between two distributions at a temperature other than 1.

    Args:
        options: The settings.
        label_kind: As for :func:`eval_ignored`.

    Returns:
        The reason, or None.
    """
    if label_kind != "dist":
        return f"it scales divergences between two distributions, and {_LABELS[label_kind]}"
    if options.temperature == 1:
        return f"it multiplies the divergences by T², and {param('temperature')} is 1"
    return None


def perplexity_ignored(options: PerplexityOptions, *, plain_array: bool, stdin: bool) -> list[str]:
    """Warnings for the options of a perplexity run that had no effect on it.

    Args:
        options: The settings.
        plain_array: Whether the file is a plain 1-D .npy of log-probabilities.
        stdin: Whether the file was read from stdin (``-``).

    Returns:
        One warning per ignored option.
    """
    reasons = {}
    if plain_array:
        reasons["logprob_col"] = "the file is a plain 1-D .npy: its values are the log-probabilities"
    if options.seq_col is None and options.top > 0:
        reasons["top"] = "it lists the worst sequences, and without --seq-col the file is one sequence"
    if not stdin:
        reasons["input_format"] = "it is the format of stdin (-), and the file is not read from stdin"
    return [f"{param(name)} is ignored: {reasons[name]}" for name in changed(options) if name in reasons]


def trend_ignored(
    with_labels: bool, eval_options: EvalOptions, token_options: PerplexityOptions
) -> list[str]:
    """Warnings for the options of a trend that its kind of checkpoint does not use.

    Args:
        with_labels: Whether ``--labels`` was given (the checkpoints are predictions).
        eval_options: The settings for checkpoints of predictions.
        token_options: The settings for token checkpoints.

    Returns:
        One warning per ignored option.
    """
    if with_labels:
        unused = [n for n in changed(token_options) if n in TOKENS_ONLY]
        why = "with --labels the checkpoints are predictions, evaluated as by eval"
    else:
        unused = [n for n in changed(eval_options) if n in EVAL_ONLY]
        why = "without --labels the checkpoints are token files, as for perplexity"
    return [f"{param(name)} is ignored: {why}" for name in unused]


def npz_ignored(options: Any, inputs: dict[str, str | None]) -> list[str]:
    """Warnings for ``npz_key`` / ``label_npz_key`` given where the input is no .npz.

    Args:
        options: Options with the key fields (:class:`~infocli.plan.EvalOptions`,
            :class:`~infocli.perplexity.PerplexityOptions`).
        inputs: Each key field's name -> the file it chooses from (a dataset's first
            shard; ``-`` for stdin, of ``options.input_format``), or None where there is none.

    Returns:
        One warning per ignored key.
    """
    from infocli.readers import extension

    def npz(path: str) -> bool:
        return options.input_format == "npz" if path == "-" else extension(path) == ".npz"

    warnings = []
    for name, path in inputs.items():
        if getattr(options, name, None) is not None and (path is None or not npz(path)):
            what = "no input" if path is None else "the input it chooses from"
            warnings.append(f"{param(name)} is ignored: it picks an array of a .npz, and {what} is no .npz")
    return warnings
