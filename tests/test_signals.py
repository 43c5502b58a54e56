"""Issue 14, signals and temporary files: on real processes, SIGINT, SIGTERM and SIGHUP exit
128 + the signal number with one ``infocli: interrupted`` line, and leave neither a copy
of stdin (``infocli-stdin-*``) nor a report temporary (``.infocli-*.tmp``) behind.

Each process is made to wait at the moment under test, deterministically: reading a stdin
pipe that the test keeps open, or reading a FIFO that the test opened and never writes.
The test polls (with a deadline) for the state it waits for, then sends the signal. A
small driver script sends the signal from inside the report's ``os.fsync`` and its
creation of its temporary file, the moments no outside process can hit on purpose.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT, SAMPLE_DATA

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
LABELS = str(SAMPLE_DATA / "labels.parquet")
PREDS_CSV = (SAMPLE_DATA / "probs.csv").read_bytes()
DEADLINE = 60.0


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A private TMPDIR, and the environment of a process that uses it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("INFOCLI_FORMAT", "PYTHONWARNINGS")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["TMPDIR"] = str(folder)
    return folder, env


def start(args: Sequence[Any], env: dict[str, str], **popen: Any) -> subprocess.Popen[bytes]:
    """``python -m infocli ARGS``, started."""
    return subprocess.Popen(
        [sys.executable, "-m", "infocli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        **popen,
    )


def wait_for(condition: Callable[[], Any], process: subprocess.Popen[bytes]) -> Any:
    """Poll until ``condition()`` is true, failing if the process ends first or at the deadline."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(f"exited {process.returncode} first: {process.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.01)
    process.kill()
    pytest.fail("timed out")


def copies(folder: Path) -> list[Path]:
    return sorted(folder.glob("infocli-stdin-*"))


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".infocli-*.tmp"))


def assert_interrupted(process: subprocess.Popen[bytes], signum: int, *empty: Path) -> None:
    """Exit 128 + signum, one ``infocli: interrupted`` line, and no temporary file left."""
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 128 + signum, (process.returncode, err)
    assert err == b"infocli: interrupted\n"
    assert out == b""
    for folder in empty:
        assert copies(folder) == [] and temporaries(folder) == [], list(folder.iterdir())


# ------------------------------------------------------------------------- stdin copies


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize(
    "args",
    [["eval", "-", LABELS], ["perplexity", "-", "--input-format", "parquet"]],
    ids=["eval-csv", "perplexity-parquet"],
)
def test_signal_while_stdin_is_copied(tmpdir_env, args, signum):
    folder, env = tmpdir_env
    process = start(args, env, stdin=subprocess.PIPE)
    process.stdin.write(PREDS_CSV[:1000])  # type: ignore[union-attr]
    process.stdin.flush()  # type: ignore[union-attr]
    wait_for(lambda: copies(folder), process)
    process.send_signal(signum)
    assert_interrupted(process, signum, folder)
    process.stdin.close()  # type: ignore[union-attr]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "labels.npy"
    os.mkfifo(path)
    return path


def open_for_writing(fifo: Path) -> int | None:
    """The FIFO opened for writing once the process has opened it for reading, else None."""
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ENXIO:  # no reader yet
            return None
        raise


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_signal_after_stdin_is_copied(tmpdir_env, fifo, signum):
    # stdin is copied whole, then the labels (a FIFO the test never writes) are read.
    folder, env = tmpdir_env
    process = start(["eval", "-", fifo], env, stdin=subprocess.PIPE)
    process.stdin.write(PREDS_CSV)  # type: ignore[union-attr]
    process.stdin.close()  # type: ignore[union-attr]
    process.stdin = None  # all written: communicate() has nothing to send
    writer = wait_for(lambda: open_for_writing(fifo), process)
    try:
        assert len(copies(folder)) == 1
        process.send_signal(signum)
        assert_interrupted(process, signum, folder)
    finally:
        os.close(writer)


@pytest.mark.parametrize(
    ("data", "code"), [(PREDS_CSV, 0), (b"a,b\n0.5,x\n", 2), (b"", 2)], ids=["success", "bad-cell", "empty"]
)
def test_stdin_copy_removed_after_success_and_error(tmpdir_env, data, code):
    folder, env = tmpdir_env
    process = start(["eval", "-", LABELS, "--format", "json"], env, stdin=subprocess.PIPE)
    _, err = process.communicate(data, timeout=DEADLINE)
    assert process.returncode == code, err
    assert list(folder.iterdir()) == []


@pytest.fixture
def full_tmpdir(tmp_path: Path):
    """A TMPDIR with room for 64 KiB: a real tmpfs as root, else a folder where a driver
    makes the copy fail with ENOSPC (the argv prefix to run infocli by)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )
    if mounted:
        yield folder, [sys.executable, "-m", "infocli"]
        subprocess.run(["umount", str(folder)], check=True)
        return
    inject = (
        "import errno, shutil, sys\n"
        "def full(*args, **kwargs):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "shutil.copyfileobj = full\n"
        "sys.argv = ['infocli', *sys.argv[1:]]\n"
        "from infocli.cli import main\n"
        "main()\n"
    )
    yield folder, [sys.executable, "-c", inject]


def test_stdin_copy_removed_when_tmpdir_is_full(tmpdir_env, full_tmpdir):
    _, env = tmpdir_env
    folder, command = full_tmpdir
    env["TMPDIR"] = str(folder)
    data = PREDS_CSV * 2  # 200 KB
    done = subprocess.run([*command, "eval", "-", LABELS], input=data, capture_output=True, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.decode().startswith("infocli: error: -: cannot be copied to a temporary file")
    assert "No space left on device" in done.stderr.decode() and done.stderr.count(b"\n") == 1
    assert list(folder.iterdir()) == []


# -------------------------------------------------------------------- report temporaries

DRIVER = textwrap.dedent(
    """
    # Send SIGNUM to this process from inside os.fsync, the os.open that creates an
    # infocli temporary, or the first os.unlink of one, then run infocli.
    import os, sys
    where, signum = sys.argv[1], int(sys.argv[2])
    module = os
    real = getattr(module, where)
    fired = []

    def patched(*args, **kwargs):
        if where == "open":
            result = real(*args, **kwargs)
            if "infocli-" in str(args[0]) and args[1] & os.O_CREAT:
                os.kill(os.getpid(), signum)  # the file exists, and nothing knows it yet
            return result
        if not fired and (where == "fsync" or "infocli-" in str(args[0])):
            fired.append(True)
            os.kill(os.getpid(), signum)  # as the disk is synced, or as a cleanup starts
        return real(*args, **kwargs)

    setattr(module, where, patched)
    sys.argv = ["infocli", *sys.argv[3:]]
    from infocli.cli import main
    main()
    """
)


def start_driver(
    tmp_path: Path, env: dict[str, str], where: str, signum: int, args: Sequence[Any], **popen: Any
):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    return subprocess.Popen(
        [sys.executable, driver, where, str(int(signum)), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        **popen,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("where", ["fsync", "open"])
def test_signal_while_the_report_is_written(tmp_path, tmpdir_env, where, signum):
    folder, env = tmpdir_env
    out = tmp_path / "out"
    out.mkdir()
    report = out / "report.json"
    report.write_text("the old report\n")
    args = ["eval", SAMPLE_DATA / "probs.parquet", LABELS, "--format", "json", "--output", report]
    process = start_driver(tmp_path, env, where, signum, args)
    assert_interrupted(process, signum, out, folder)
    assert report.read_text() == "the old report\n"
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]


def test_signal_while_stdin_is_copied_for_a_report_file(tmpdir_env):
    # The stdin copy and a report target in the same folder as TMPDIR: neither is left.
    folder, env = tmpdir_env
    report = folder / "report.json"
    process = start(["eval", "-", LABELS, "-o", report], env, stdin=subprocess.PIPE)
    process.stdin.write(PREDS_CSV[:10])  # type: ignore[union-attr]
    process.stdin.flush()  # type: ignore[union-attr]
    wait_for(lambda: copies(folder), process)
    process.terminate()
    assert_interrupted(process, signal.SIGTERM, folder)
    assert not report.exists()
    process.stdin.close()  # type: ignore[union-attr]


def test_nohup_keeps_sighup_ignored(tmpdir_env):
    # A parent that ignores SIGHUP (nohup) keeps it ignored: the run goes on to its report.
    folder, env = tmpdir_env
    process = start(
        ["eval", "-", LABELS, "--format", "json"],
        env,
        stdin=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    process.stdin.write(PREDS_CSV[:10])  # type: ignore[union-attr]
    process.stdin.flush()  # type: ignore[union-attr]
    wait_for(lambda: copies(folder), process)
    process.send_signal(signal.SIGHUP)
    out, err = process.communicate(PREDS_CSV[10:], timeout=DEADLINE)
    assert process.returncode == 0, err
    assert b'"n_samples": 1000' in out
    assert list(folder.iterdir()) == []


def test_second_signal_during_cleanup(tmp_path, tmpdir_env):
    # SIGINT while stdin is copied, then SIGTERM as the copy is being removed: the process
    # leaves at once, still without the copy, with the first signal's code and one line.
    folder, env = tmpdir_env
    process = start_driver(
        tmp_path, env, "unlink", signal.SIGTERM, ["eval", "-", LABELS], stdin=subprocess.PIPE
    )
    process.stdin.write(PREDS_CSV[:10])  # type: ignore[union-attr]
    process.stdin.flush()  # type: ignore[union-attr]
    wait_for(lambda: copies(folder), process)
    process.send_signal(signal.SIGINT)
    assert_interrupted(process, signal.SIGINT, folder)
