"""infocli: information-theory metrics (entropy, cross-entropy, KL, perplexity) for model predictions."""

__version__ = "0.1.0"

__all__ = ["__version__"]
