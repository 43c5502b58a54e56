"""Token-level perplexity of language models, per corpus and per sequence.

Pure NumPy, no I/O. Each chunk brings the log-probability of the observed token at each
position, optionally with a sequence id, a mask, and byte or word counts.
:class:`TokenState` keeps the corpus sums and one row of sums per sequence (the only part
that grows, with the number of sequences rather than tokens), and merges exactly.

Definitions (NLL in nats; ``--base`` converts the cross-entropy):

* cross-entropy per token R = total NLL / total tokens; corpus perplexity = exp(R);
* per-sequence perplexity = exp(L_s / n_s); its mean and median over sequences differ
  from the corpus perplexity, which weights every token equally;
* bits per byte = total NLL in bits / total bytes; word perplexity = exp(total NLL / total
  words) (the lm-evaluation-harness definitions);
* standard errors treat sequences as the unit, because tokens of one sequence are
  correlated: for a ratio R = sum L_s / sum d_s, SE = sqrt(S/(S-1) * sum (L_s - R d_s)^2)
  / sum d_s (the delta method for a ratio estimator); perplexity's follows by the delta
  method. With a single sequence, tokens are the unit.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli.errors import InfoCliError
from infocli.metrics.moments import Moments
from infocli.metrics.registry import LN_BASE as _LOG
from infocli.metrics.state import (
    BOOL,
    POSITIVE,
    Check,
    check_inputs,
    check_mergeable,
    check_settings_shape,
    count,
    exp_or_inf,
    from_json_float,
    header,
    moments_from_dict,
    moments_to_dict,
    one_of,
    to_json_float,
)


def nll_from_logprobs(logprobs: np.ndarray, base: str = "e") -> np.ndarray:
    """Validate log-probabilities of observed tokens and return their NLL in nats (float64).

    Args:
        logprobs: (n,) log-probabilities in ``base``; -inf (a zero probability) is allowed.
        base: The base of the logarithms: ``"e"``, ``"2"`` or ``"10"``.

    Returns:
        (n,) negative log-likelihoods in nats.

    Raises:
        InfoCliError: NaN, or a positive log-probability (chunk-local ``row``).
    """
    values = np.asarray(logprobs, dtype=np.float64)
    bad = np.isnan(values) | (values > 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InfoCliError(
            f"log-probability is {'missing or NaN' if np.isnan(values[row]) else f'{values[row]:g}, above 0'}; "
            "expected a number <= 0",
            row=row,
            hint="The column must hold log-probabilities of the observed tokens (log_softmax, not logits)",
        )
    return values * -_LOG[base]


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index and key of each run of equal consecutive keys."""
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return starts, keys[starts]


@dataclass
class SequenceSums:
    """Sums per sequence: NLL (nats), tokens, bytes and words, keyed by sequence id."""

    keys: list[Hashable] = field(default_factory=list)
    nll: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bytes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    words: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _index: dict[Hashable, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.keys)

    def codes(self, keys: Sequence[Hashable]) -> np.ndarray:
        """Dense codes of ``keys``, adding the new ones."""
        codes = np.empty(len(keys), dtype=np.intp)
        for i, key in enumerate(keys):
            code = self._index.get(key)
            if code is None:
                code = self._index[key] = len(self.keys)
                self.keys.append(key)
            codes[i] = code
        if len(self.keys) > len(self.nll):
            size = max(len(self.keys), 2 * len(self.nll), 16)
            for name in ("nll", "tokens", "bytes", "words"):
                old = getattr(self, name)
                new = np.zeros(size, dtype=old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)
        return codes

    def add(
        self, codes: np.ndarray, nll: np.ndarray, tokens: np.ndarray, n_bytes: np.ndarray, words: np.ndarray
    ) -> None:
        """Add sums for sequences given by their dense codes (repeats allowed)."""
        np.add.at(self.nll, codes, nll)
        np.add.at(self.tokens, codes, tokens)
        np.add.at(self.bytes, codes, n_bytes)
        np.add.at(self.words, codes, words)

    def add_tokens(
        self,
        ids: np.ndarray | None,
        nll: np.ndarray,
        n_bytes: np.ndarray | None,
        words: np.ndarray | None,
        names: list[Hashable] | None = None,
    ) -> None:
        """Add one chunk of tokens, with each token's sequence id.

        Consecutive tokens of one sequence are summed first (one run each), so a file
        sorted by sequence costs one lookup per sequence, and an interleaved one still works.

        Args:
            ids: (n,) sequence ids, or indices into ``names``; None: all tokens are one
                sequence, keyed None.
            nll: (n,) NLL in nats.
            n_bytes: (n,) byte counts, or None.
            words: (n,) word counts, or None.
            names: The sequence ids that ``ids`` index (a dictionary encoding), or None.
        """
        if ids is None:
            starts = np.zeros(1, dtype=np.intp)
            codes = self.codes([None])
        else:
            starts, run_ids = _runs(ids)
            unique, inverse = np.unique(run_ids, return_inverse=True)
            keys = unique.tolist() if names is None else [names[i] for i in unique]
            codes = self.codes(keys)[inverse]
        lengths = np.diff(np.append(starts, len(nll)))

        def sums(values: np.ndarray | None) -> np.ndarray:
            return np.zeros(len(starts)) if values is None else np.add.reduceat(values, starts)

        self.add(codes, sums(nll), lengths, sums(n_bytes), sums(words))

    def merge(self, other: SequenceSums) -> None:
        """Fold in another table's sequences (the same id in both is one sequence)."""
        n = len(other)
        if n:
            codes = self.codes(other.keys)
            self.add(codes, other.nll[:n], other.tokens[:n], other.bytes[:n], other.words[:n])

    def used(self) -> tuple[list[Hashable], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Keys and sums of the sequences with at least one token."""
        n = len(self.keys)
        keep = np.flatnonzero(self.tokens[:n] > 0)
        keys = [self.keys[i] for i in keep]
        return keys, self.nll[keep], self.tokens[keep], self.bytes[keep], self.words[keep]


@dataclass(frozen=True)
class TokenResults:
    """The reported numbers of a perplexity run, derived from a :class:`TokenState`."""

    metrics: dict[str, float]
    standard_error: dict[str, float]
    n_tokens: int
    n_sequences: int
    n_masked: int
    base: str
    worst: list[dict[str, Any]]


def ratio_se(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """Delta-method SE of sum(numerators) / sum(denominators), sequences as the unit."""
    s = len(numerators)
    total = float(denominators.sum())
    if s < 2 or total == 0:
        return math.nan
    ratio = float(numerators.sum()) / total
    residuals = numerators - ratio * denominators
    with np.errstate(invalid="ignore"):
        return math.sqrt(s / (s - 1) * float(np.dot(residuals, residuals))) / total


@dataclass
class TokenState:
    """Corpus sums, per-sequence sums and counts of a token stream; merges exactly.

    Without sequence ids every token belongs to one sequence (key ``None``).

    Attributes:
        settings: Everything that changes a sum (the log-probabilities' base, which
            columns were given, the format version): states merge only when these are equal.
        inputs: What the report says about each part's input, in merge order.
        top: How many of the worst sequences the report lists.

    Example:
        >>> state = TokenState()
        >>> state.update(np.log(np.full(8, 0.25)))  # every token had probability 1/4
        >>> state.compute().metrics["perplexity"]
        4.0
    """

    settings: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    top: int = 5
    tokens: Moments = field(default_factory=Moments)
    sequences: SequenceSums = field(default_factory=SequenceSums)
    n_masked: int = 0
    masked_counts: int = 0  # nonzero byte or word counts on masked rows, left out
    total_bytes: float = 0.0
    total_words: float = 0.0
    has_bytes: bool = False
    has_words: bool = False

    command = "perplexity"

    def update(
        self,
        logprobs: np.ndarray,
        *,
        sequence: np.ndarray | None = None,
        names: list[Hashable] | None = None,
        mask: np.ndarray | None = None,
        n_bytes: np.ndarray | None = None,
        words: np.ndarray | None = None,
        logprob_base: str = "e",
    ) -> None:
        """Accumulate a chunk of tokens.

        Args:
            logprobs: (n,) log-probabilities of the observed tokens, in ``logprob_base``.
            sequence: (n,) sequence ids (or indices into ``names``), or None for one sequence.
            names: The ids that ``sequence`` indexes, when it is a dictionary encoding.
            mask: (n,) true/nonzero for tokens to use; the others are counted as masked
                and not validated.
            n_bytes: (n,) byte counts, summed over the tokens used.
            words: (n,) word counts, summed over the tokens used.
            logprob_base: The base of ``logprobs``.

        Raises:
            InfoCliError: NaN or positive log-probabilities, negative or NaN counts
                (chunk-local ``row``).
        """
        rows = None
        if mask is not None:
            _check_not_missing(mask, "mask value")
            keep = mask.astype(bool)
            if not keep.all():
                rows = np.flatnonzero(keep)
                self.n_masked += len(keep) - len(rows)
                for counts in (n_bytes, words):
                    if counts is not None:
                        self.masked_counts += int(np.count_nonzero(np.asarray(counts)[~keep] > 0))
                logprobs = logprobs[rows]
                sequence = None if sequence is None else sequence[rows]
                n_bytes = None if n_bytes is None else n_bytes[rows]
                words = None if words is None else words[rows]
        try:
            if sequence is not None:
                _check_not_missing(sequence, "sequence id")
            nll = nll_from_logprobs(logprobs, logprob_base)
            n_bytes = _counts(n_bytes, "byte count")
            words = _counts(words, "word count")
        except InfoCliError as error:
            if rows is not None and error.row is not None:
                error.row = int(rows[error.row])
            raise
        self.tokens.add(nll)
        if len(nll):
            self.sequences.add_tokens(sequence, nll, n_bytes, words, names)
        if n_bytes is not None:
            self.has_bytes = True
            self.total_bytes += float(n_bytes.sum())
        if words is not None:
            self.has_words = True
            self.total_words += float(words.sum())

    def merge(self, other: TokenState) -> None:
        """Fold in another state (another chunk, file or machine).

        A sequence whose tokens are split between the two states is joined by its id.

        Args:
            other: A state of the same settings.

        Raises:
            InfoCliError: The settings differ (the first difference is named).
        """
        if other.settings is not self.settings:
            check_mergeable(self.settings, other.settings)
        self.inputs.extend(other.inputs)
        self.tokens.merge(other.tokens)
        self.sequences.merge(other.sequences)
        self.n_masked += other.n_masked
        self.masked_counts += other.masked_counts
        self.total_bytes += other.total_bytes
        self.total_words += other.total_words
        self.has_bytes |= other.has_bytes
        self.has_words |= other.has_words

    def compute(self, base: str = "e", *, top: int | None = None) -> TokenResults:
        """Corpus and per-sequence perplexity, with standard errors.

        Args:
            base: Units of the cross-entropy: ``"e"`` (nats), ``"2"`` (bits), ``"10"``.
            top: How many of the worst sequences (highest perplexity) to list; the
                state's own :attr:`top` by default.

        Returns:
            The results.
        """
        keys, nll, tokens, n_bytes, words = self.sequences.used()
        n_tokens = self.tokens.n
        rate = self.tokens.total / n_tokens if n_tokens else math.nan
        if len(keys) > 1:
            rate_se = ratio_se(nll, tokens.astype(np.float64))
        else:
            rate_se = self.tokens.std_error
        scale = _LOG[base]
        perplexity = exp_or_inf(rate)
        metrics = {"cross_entropy": rate / scale, "perplexity": perplexity}
        errors = {"cross_entropy": rate_se / scale, "perplexity": perplexity * rate_se}
        with np.errstate(over="ignore"):
            per_sequence = np.exp(nll / tokens) if len(keys) else np.zeros(0)
        metrics["sequence_perplexity_mean"] = float(per_sequence.mean()) if len(keys) else math.nan
        metrics["sequence_perplexity_median"] = float(np.median(per_sequence)) if len(keys) else math.nan
        errors["sequence_perplexity_mean"] = (
            float(per_sequence.std(ddof=1) / math.sqrt(len(keys))) if len(keys) > 1 else math.nan
        )
        if self.has_bytes:
            bits = self.tokens.total / math.log(2)
            metrics["bits_per_byte"] = bits / self.total_bytes if self.total_bytes else math.nan
            errors["bits_per_byte"] = ratio_se(nll, n_bytes) / math.log(2) if len(keys) > 1 else math.nan
        if self.has_words:
            word_rate = self.tokens.total / self.total_words if self.total_words else math.nan
            metrics["word_perplexity"] = exp_or_inf(word_rate)
            se = ratio_se(nll, words) if len(keys) > 1 else math.nan
            errors["word_perplexity"] = metrics["word_perplexity"] * se
        order = np.argsort(-per_sequence, kind="stable")[: self.top if top is None else top]
        worst = [
            {
                "sequence": keys[i],
                "n_tokens": int(tokens[i]),
                "cross_entropy": float(nll[i] / tokens[i]) / scale,
                "perplexity": float(per_sequence[i]),
            }
            for i in order
        ]
        return TokenResults(metrics, errors, n_tokens, len(keys), self.n_masked, base, worst)

    def warnings(self) -> list[str]:
        """What the report warns of: counts on masked rows, left out.

        Returns:
            One line per warning.
        """
        lines = []
        if not self.tokens.n and self.n_masked:
            lines.append(f"no tokens to score: all {self.n_masked:,} were masked out, so the metrics are NaN")
        if not self.masked_counts:
            return lines
        paths = ", ".join(dict.fromkeys(part["tokens"]["path"] for part in self.inputs)) or "the input"
        lines.append(
            f"{paths}: {self.masked_counts:,} byte or word counts sit on masked rows and were "
            "left out (counts are summed over the rows used)"
        )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data (see the README's state-file schema).

        Returns:
            A dictionary of plain values; every float reads back bit for bit.
        """
        keys, nll, tokens, n_bytes, words = self.sequences.used()
        return {
            **header(self),
            "top": self.top,
            "n_tokens": self.tokens.n,
            "n_masked": self.n_masked,
            "masked_counts": self.masked_counts,
            "tokens": moments_to_dict(self.tokens),
            "total_bytes": to_json_float(self.total_bytes) if self.has_bytes else None,
            "total_words": to_json_float(self.total_words) if self.has_words else None,
            "sequences": {
                "ids": keys,
                "nll": [to_json_float(v) for v in nll.tolist()],
                "tokens": tokens.tolist(),
                "bytes": n_bytes.tolist(),
                "words": words.tolist(),
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenState:
        """Rebuild a state from :meth:`to_dict`, refusing impossible contents.

        Args:
            data: The dictionary (already checked for its format version and command).

        Returns:
            The state.

        Raises:
            InfoCliError: A missing field, a negative count, a NaN sum, or sums that do
                not add up.
        """
        settings = check_settings_shape(data, TOKEN_SETTINGS)
        inputs = check_inputs(data.get("inputs"), ("tokens",))
        state = cls(settings, inputs, count(data.get("top"), "top"))
        state.tokens = moments_from_dict(data.get("tokens"), "tokens")
        if state.tokens.total < 0:  # every token's NLL is >= 0
            raise InfoCliError(f"tokens.sum is {state.tokens.total!r}; expected a number >= 0")
        state.n_masked = count(data.get("n_masked"), "n_masked")
        state.masked_counts = count(data.get("masked_counts"), "masked_counts")
        if state.masked_counts > 2 * state.n_masked:  # a byte and a word count per masked row
            raise InfoCliError(
                f"masked_counts is {state.masked_counts}, more than the byte and word counts of "
                f"{state.n_masked} masked rows"
            )
        if count(data.get("n_tokens"), "n_tokens") != state.tokens.n:
            raise InfoCliError(
                f"n_tokens is {data.get('n_tokens')!r} but the statistics hold {state.tokens.n}"
            )
        for name in ("bytes", "words"):
            total = data.get(f"total_{name}")
            if (total is None) == settings[name]:
                given = "given" if total is not None else "missing"
                raise InfoCliError(
                    f"total_{name} is {given}, but settings.{name} is {str(settings[name]).lower()}"
                )
            if total is not None:
                value = from_json_float(total, f"total_{name}")
                if not 0 <= value < math.inf:
                    raise InfoCliError(f"total_{name} is {value!r}; expected a finite number >= 0")
                setattr(state, f"total_{name}", value)
                setattr(state, f"has_{name}", True)
        seq = data.get("sequences")
        if not isinstance(seq, dict):
            raise InfoCliError("sequences are missing")
        columns = {name: seq.get(name) for name in ("ids", "nll", "tokens", "bytes", "words")}
        lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise InfoCliError("sequences must hold lists ids, nll, tokens, bytes and words of one length")
        ids = columns["ids"]
        if any(not (i is None or isinstance(i, str | int | float) and not isinstance(i, bool)) for i in ids):
            raise InfoCliError("a sequence id is not a number or a string")
        if len(set(ids)) != len(ids):
            raise InfoCliError("a sequence id appears twice")
        nll = np.array([from_json_float(v, "sequences.nll") for v in columns["nll"]], dtype=np.float64)
        n_tokens = np.array([count(v, "sequences.tokens") for v in columns["tokens"]], dtype=np.int64)
        n_bytes = np.array(
            [from_json_float(v, "sequences.bytes") for v in columns["bytes"]], dtype=np.float64
        )
        words = np.array([from_json_float(v, "sequences.words") for v in columns["words"]], dtype=np.float64)
        if np.isnan(nll).any() or (nll < 0).any() or (n_tokens < 1).any():
            raise InfoCliError("a sequence has a NaN or negative NLL, or no tokens")
        if (
            not (np.isfinite(n_bytes).all() and np.isfinite(words).all())
            or (n_bytes < 0).any()
            or (words < 0).any()
        ):
            raise InfoCliError("a sequence has a negative or non-finite byte or word count")
        if not settings["seq"] and ids not in ([], [None]):
            raise InfoCliError(
                f"without sequence ids the tokens are one sequence, but {len(ids)} ids are listed"
            )
        for name, values in (("nll", nll), ("bytes", n_bytes), ("words", words)):
            total = {"nll": state.tokens.total, "bytes": state.total_bytes, "words": state.total_words}[name]
            if not _adds_up(values, total):
                what = "tokens.sum" if name == "nll" else f"total_{name}"
                raise InfoCliError(
                    f"the sequences' {name} add up to {float(values.sum())!r}, not {what} {total!r}"
                )
        if int(n_tokens.sum()) != state.tokens.n:
            raise InfoCliError(
                f"the sequences hold {int(n_tokens.sum())} tokens but n_tokens is {state.tokens.n}"
            )
        if len(ids):
            state.sequences.add(state.sequences.codes(ids), nll, n_tokens, n_bytes, words)
        return state


TOKEN_SETTINGS: dict[str, Check] = {
    "logprob_base": one_of(*_LOG),
    "seq": BOOL,
    "mask": BOOL,
    "bytes": BOOL,
    "words": BOOL,
    "format_version": POSITIVE,
}
"""The settings a token state holds, each with its test."""


def _adds_up(values: np.ndarray, total: float) -> bool:
    """Whether per-sequence sums add up to a corpus total, to float64 rounding (the same
    values summed in another order)."""
    if not np.isfinite(total) or not np.isfinite(values).all():
        return bool(np.isinf(total) == np.isinf(values).any())
    return abs(float(values.sum()) - total) <= 1e-9 * max(float(np.abs(values).sum()), abs(total)) + 1e-300


def _counts(values: np.ndarray | None, what: str) -> np.ndarray | None:
    if values is None:
        return None
    counts = np.asarray(values, dtype=np.float64)
    bad = ~((counts >= 0) & (counts < math.inf))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = "missing or NaN" if np.isnan(counts[row]) else f"{counts[row]:g}"
        raise InfoCliError(f"{what} is {shown}; expected a finite number >= 0", row=row)
    return counts


def _check_not_missing(values: np.ndarray, what: str) -> None:
    """Raise for the first missing (NaN) value of a column of numbers.

    Raises:
        InfoCliError: Naming the chunk-local row.
    """
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise InfoCliError(f"{what} is missing or NaN", row=row, hint="Every row needs one")
