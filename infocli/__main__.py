"""``python -m infocli``."""

from infocli.cli import main

main()
