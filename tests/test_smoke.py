"""The installed command starts, and `python -m infocli` works."""

import subprocess
import sys

from infocli import __version__


def test_python_dash_m_prints_the_version():
    result = subprocess.run([sys.executable, "-m", "infocli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"infocli {__version__}"
