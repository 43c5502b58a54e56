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

_LOG = {"e": 1.0, "2": math.log(2), "10": math.log(10)}


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

    def _codes(self, keys: Sequence[Hashable]) -> np.ndarray:
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
            codes = self._codes([None])
        else:
            starts, run_ids = _runs(ids)
            unique, inverse = np.unique(run_ids, return_inverse=True)
            keys = unique.tolist() if names is None else [names[i] for i in unique]
            codes = self._codes(keys)[inverse]
        lengths = np.diff(np.append(starts, len(nll)))

        def sums(values: np.ndarray | None) -> np.ndarray:
            return np.zeros(len(starts)) if values is None else np.add.reduceat(values, starts)

        self.add(codes, sums(nll), lengths, sums(n_bytes), sums(words))

    def merge(self, other: SequenceSums) -> None:
        """Fold in another table's sequences (the same id in both is one sequence)."""
        n = len(other)
        if n:
            codes = self._codes(other.keys)
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


def _ratio_se(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """Delta-method SE of sum(numerators) / sum(denominators), sequences as the unit."""
    s = len(numerators)
    total = float(denominators.sum())
    if s < 2 or total == 0:
        return math.nan
    ratio = float(numerators.sum()) / total
    residuals = numerators - ratio * denominators
    with np.errstate(invalid="ignore"):
        return math.sqrt(s / (s - 1) * float(np.dot(residuals, residuals))) / total


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


@dataclass
class TokenState:
    """Corpus sums, per-sequence sums and counts of a token stream; merges exactly.

    Without sequence ids every token belongs to one sequence (key ``None``).

    Example:
        >>> state = TokenState()
        >>> state.update(np.log(np.full(8, 0.25)))  # every token had probability 1/4
        >>> state.compute().metrics["perplexity"]
        4.0
    """

    tokens: Moments = field(default_factory=Moments)
    sequences: SequenceSums = field(default_factory=SequenceSums)
    n_masked: int = 0
    masked_counts: int = 0  # nonzero byte or word counts on masked rows, left out
    total_bytes: float = 0.0
    total_words: float = 0.0
    has_bytes: bool = False
    has_words: bool = False

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

        Args:
            other: A state of the same settings.
        """
        self.tokens.merge(other.tokens)
        self.sequences.merge(other.sequences)
        self.n_masked += other.n_masked
        self.masked_counts += other.masked_counts
        self.total_bytes += other.total_bytes
        self.total_words += other.total_words
        self.has_bytes |= other.has_bytes
        self.has_words |= other.has_words

    def compute(self, base: str = "e", *, top: int = 5) -> TokenResults:
        """Corpus and per-sequence perplexity, with standard errors.

        Args:
            base: Units of the cross-entropy: ``"e"`` (nats), ``"2"`` (bits), ``"10"``.
            top: How many of the worst sequences (highest perplexity) to list.

        Returns:
            The results.
        """
        keys, nll, tokens, n_bytes, words = self.sequences.used()
        n_tokens = self.tokens.n
        rate = self.tokens.total / n_tokens if n_tokens else math.nan
        if len(keys) > 1:
            rate_se = _ratio_se(nll, tokens.astype(np.float64))
        else:
            rate_se = self.tokens.std_error
        scale = _LOG[base]
        perplexity = _exp(rate)
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
            errors["bits_per_byte"] = _ratio_se(nll, n_bytes) / math.log(2) if len(keys) > 1 else math.nan
        if self.has_words:
            word_rate = self.tokens.total / self.total_words if self.total_words else math.nan
            metrics["word_perplexity"] = _exp(word_rate)
            se = _ratio_se(nll, words) if len(keys) > 1 else math.nan
            errors["word_perplexity"] = metrics["word_perplexity"] * se
        order = np.argsort(-per_sequence, kind="stable")[:top]
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


def _counts(values: np.ndarray | None, what: str) -> np.ndarray | None:
    if values is None:
        return None
    counts = np.asarray(values, dtype=np.float64)
    bad = ~(counts >= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InfoCliError(f"{what} {counts[row]:g} is not a number >= 0", row=row)
    return counts
