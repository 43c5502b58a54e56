"""Every file infocli writes (``--output`` of eval, perplexity and trend, ``trend --plot``):
non-regular targets, inputs as targets, write failures, and modes (issue 14, "Outputs").

Write failures happen on real file systems: small tmpfs mounts (full, read-only) and
read-only bind mounts, made here as root. Where the test process may not mount, the same
errno is injected at the write instead, so that every test runs everywhere.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from infocli import outputs
from infocli.errors import InfoCliError

from .cli_helpers import assert_bad_input, invoke

OLD = "old report\n"


# The devices these tests write to, as they must stay: (path, kind, device or link).
DEVICES = [("/dev/null", stat.S_IFCHR, (1, 3)), ("/dev/full", stat.S_IFCHR, (1, 7))]
LINKS = [("/dev/stdout", "/proc/self/fd/1")]


@pytest.fixture(autouse=True)
def _devices_survive() -> Iterator[None]:
    """Put back any device a broken writer replaced (this machine's /dev is everyone's), and fail."""
    yield
    broken = []
    for path, kind, (major, minor) in DEVICES:
        st = os.lstat(path)
        if stat.S_IFMT(st.st_mode) != kind or st.st_rdev != os.makedev(major, minor):
            os.unlink(path)
            os.mknod(path, kind | 0o666, os.makedev(major, minor))
            os.chmod(path, 0o666)
            broken.append(path)
    for path, points_to in LINKS:
        if not os.path.islink(path) or os.readlink(path) != points_to:
            os.unlink(path)
            os.symlink(points_to, path)
            broken.append(path)
    assert not broken, f"replaced (now put back): {broken}"


# ------------------------------------------------------------------------------ inputs


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    """Small inputs of every command, in their own folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(14)
    labels = rng.integers(0, 3, 40)
    np.save(folder / "labels.npy", labels)
    for step in (1, 2):
        z = rng.normal(size=(40, 3))
        z[np.arange(40), labels] += step
        np.save(folder / f"ckpt_{step}.npy", z)
    np.save(folder / "preds.npy", rng.dirichlet(np.ones(3), 40))
    np.save(folder / "tokens.npy", -rng.exponential(2.0, 50))
    return {p.stem: str(p) for p in folder.iterdir()}


# Each writer: the command line that writes TARGET, with its inputs by name.
WRITERS: dict[str, Callable[[dict[str, str], str], list[str]]] = {
    "eval": lambda i, t: ["eval", i["preds"], i["labels"], "--format", "json", "--output", t],
    "perplexity": lambda i, t: ["perplexity", i["tokens"], "--format", "json", "--output", t],
    "trend": lambda i, t: ["trend", i["ckpt_1"], i["ckpt_2"], "--labels", i["labels"], "-o", t],
    "plot": lambda i, t: ["trend", i["ckpt_1"], i["ckpt_2"], "--labels", i["labels"], "--plot", t],
}
NAMES = {"eval": "report.json", "perplexity": "report.json", "trend": "report.txt", "plot": "trend.png"}


def write(writer: str, inputs: dict[str, str], target: Path | str):
    """Run one writer in-process; the CliRunner result."""
    return invoke(*WRITERS[writer](inputs, str(target)))


def assert_written(writer: str, result, target: Path) -> None:
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    data = target.read_bytes()
    if writer == "plot":
        assert data.startswith(b"\x89PNG")
    elif writer == "trend":
        assert b"perplexity" in data
    else:
        assert json.loads(data)["infocli_version"]


def temporaries(folder: Path) -> list[Path]:
    return list(folder.glob(".infocli-*"))


# ------------------------------------------------------------------- non-regular targets


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("device", ["/dev/null", "a null device of our own"])
def test_a_character_device_is_written_through_and_stays_a_device(writer, device, inputs, tmp_path):
    path = "/dev/null"
    if device != path:  # a second null device, named as the writer wants (trend.png for --plot)
        path = str(tmp_path / NAMES[writer])
        os.mknod(path, stat.S_IFCHR | 0o620, os.makedev(1, 3))
    before = os.stat(path)
    result = write(writer, inputs, path)
    if writer == "plot" and path == "/dev/null":  # --plot wants an image name
        assert_bad_input(result, path, ".png")
    else:
        assert result.exit_code == 0, result.stderr
    after = os.stat(path)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before.st_mode)
    assert not temporaries(Path(path).parent)


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as fifo:
            into.append(fifo.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("writer", ["eval", "perplexity"])
def test_a_fifo_is_written_through_to_its_reader(writer, inputs, tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    result = write(writer, inputs, fifo)
    if result.exit_code != 0:  # unblock the reader, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    reader.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert json.loads(got[0])["infocli_version"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "report.fifo"]


def test_a_fifo_named_as_a_plot_gets_the_image(inputs, tmp_path):
    fifo = tmp_path / "trend.png"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    result = write("plot", inputs, fifo)
    if result.exit_code != 0:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    reader.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert got[0].startswith(b"\x89PNG")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    env.pop("INFOCLI_FORMAT", None)
    if "stdout" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run([sys.executable, "-m", "infocli", *args], env=env, timeout=120, **kwargs)


@pytest.mark.parametrize("spelling", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_dev_stdout_on_a_pipe_gets_the_report_and_is_not_replaced(spelling, inputs):
    result = _run(WRITERS["eval"](inputs, spelling))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["n_samples"] == 40
    assert os.path.islink("/dev/stdout") and not temporaries(Path("/dev"))


def test_dev_stdout_redirected_to_a_file_appends_to_it(inputs, tmp_path):
    """A CI log on stdout keeps what it holds: the report comes after, as on stdout itself."""
    log = tmp_path / "ci.log"
    log.write_text("earlier lines\n")
    with open(log, "ab") as stdout:
        result = subprocess.run(
            [sys.executable, "-m", "infocli", *WRITERS["eval"](inputs, "/dev/stdout")],
            stdout=stdout,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    assert text.startswith("earlier lines\n{")
    assert json.loads(text.split("\n", 1)[1])["n_samples"] == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ci.log", "in"]


@pytest.mark.parametrize("writer", ["eval", "plot"])
def test_a_socket_is_refused_before_reading(writer, inputs, tmp_path):
    import socket

    path = tmp_path / NAMES[writer]
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert_bad_input(write(writer, inputs, path), str(path), "socket")
        assert stat.S_ISSOCK(os.stat(path).st_mode)


@pytest.mark.parametrize("writer", WRITERS)
def test_a_symlink_is_followed_and_stays_a_link(writer, inputs, tmp_path):
    real = tmp_path / "reports" / NAMES[writer]
    real.parent.mkdir()
    real.write_text(OLD)
    link = tmp_path / ("link" + real.suffix)
    link.symlink_to(os.path.relpath(real, tmp_path))
    result = write(writer, inputs, link)
    assert_written(writer, result, real)
    assert link.is_symlink() and os.readlink(link) == os.path.relpath(real, tmp_path)
    assert not temporaries(tmp_path) and not temporaries(real.parent)


def test_a_dangling_symlink_and_a_chain_create_the_file_they_point_to(inputs, tmp_path):
    real = tmp_path / "reports" / "r.json"
    real.parent.mkdir()
    first = tmp_path / "first.json"
    second = tmp_path / "second.json"
    second.symlink_to(real)
    first.symlink_to(second)
    assert_written("eval", write("eval", inputs, first), real)
    assert first.is_symlink() and second.is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o666 & ~_umask()


# ------------------------------------------------------------------ an input is a target

SPELLINGS = ["same", "dot-slash", "parent", "hard link", "symlink to it", "input is a symlink"]


def _spell(path: str, how: str, tmp_path: Path) -> tuple[str, str]:
    """``(input, target)``: two names for one file."""
    p = Path(path)
    if how == "same":
        return path, path
    if how == "dot-slash":
        return path, os.path.join(".", os.path.relpath(p))
    if how == "parent":
        return path, str(p.parent / ".." / p.parent.name / p.name)
    if how == "hard link":
        other = tmp_path / ("hard" + p.suffix)
        os.link(p, other)
        return path, str(other)
    if how == "symlink to it":
        other = tmp_path / ("soft" + p.suffix)
        other.symlink_to(p)
        return path, str(other)
    other = tmp_path / ("soft" + p.suffix)  # the input is named by a link; the target is the file
    other.symlink_to(p)
    return str(other), path


# (writer, the input named as the target)
INPUT_TARGETS = [
    ("eval", "preds"),
    ("eval", "labels"),
    ("perplexity", "tokens"),
    ("trend", "ckpt_2"),
    ("trend", "labels"),
    ("plot", "ckpt_1"),
]


@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize(("writer", "name"), INPUT_TARGETS)
def test_an_input_named_as_the_target_is_refused_before_reading(
    writer, name, how, inputs, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    if writer == "plot":  # --plot needs .png: give that input a .png name
        png = Path(inputs[name]).with_suffix(".png")
        os.rename(inputs[name], png)
        inputs = {**inputs, name: str(png)}
    # Garbage content: had the input been read first, the error would be about its format.
    Path(inputs[name]).write_bytes(b"not a real input file\n")
    given, target = _spell(inputs[name], how, tmp_path)
    inputs = {**inputs, name: given}
    before = sorted(os.listdir(tmp_path)), Path(inputs[name]).read_bytes()
    # Had the file been read first, the error would be about its content.
    assert_bad_input(write(writer, inputs, target), target, "names the input", "would overwrite it")
    assert (sorted(os.listdir(tmp_path)), Path(inputs[name]).read_bytes()) == before


def test_output_and_plot_naming_one_file_is_refused(inputs, tmp_path):
    target = tmp_path / "trend.png"
    other = tmp_path / "link.png"
    other.symlink_to(target)
    target.write_text(OLD)
    for plot in (target, other):
        args = ["trend", inputs["ckpt_1"], inputs["ckpt_2"], "--labels", inputs["labels"]]
        assert_bad_input(invoke(*args, "--output", target, "--plot", plot), "--output", "--plot", "same file")
        assert target.read_text() == OLD


def test_stdin_and_devices_are_not_compared(inputs, tmp_path):
    """``-`` is not a file, and a device shared by input and output destroys nothing."""
    csv = "c0,c1,label\n0.2,0.8,1\n0.6,0.4,0\n"
    result = invoke("eval", "-", "--format", "json", "--output", tmp_path / "-", input=csv)
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "-").read_text())["n_samples"] == 2
    outputs.check_targets([("/dev/null", "--output")], ["/dev/null", "-"])


# --------------------------------------------------------------------- write failures


def _mount(folder: Path, *options: str, source: str = "tmpfs") -> bool:
    """Mount a tmpfs (or bind ``source``) on ``folder``; False where this process may not."""
    if source == "tmpfs":
        command = ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(folder)]
    else:
        command = ["mount", "--bind", source, str(folder)]
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(command, capture_output=True, check=False)
    return done.returncode == 0


def _umount(folder: Path) -> None:
    if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def _remount_read_only(folder: Path, bind: bool = False) -> None:
    options = "remount,bind,ro" if bind else "remount,ro"
    subprocess.run(["mount", "-o", options, str(folder)], check=True, capture_output=True)


def _inject(monkeypatch, folder: Path, code: int, *, at: str) -> None:
    """Fail with ``code`` where a mount cannot be made: new files in ``folder`` (at="open")
    or every fsync (at="fsync")."""
    if at == "fsync":

        def fsync(fd: int) -> None:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(outputs.os, "fsync", fsync)
        return
    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and os.path.dirname(os.path.abspath(path)) == str(folder):
            raise OSError(code, os.strerror(code), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(outputs.os, "open", open_)


@pytest.fixture
def full_disk(tmp_path: Path, request, monkeypatch) -> Path:
    """A folder holding the old reports on a full 64 KiB tmpfs (ENOSPC injected at the
    fsync where this process may not mount)."""
    folder = tmp_path / "full"
    folder.mkdir()
    if not _mount(folder, "size=64k"):
        _old_reports(folder)
        _inject(monkeypatch, folder, errno.ENOSPC, at="fsync")
        return folder
    request.addfinalizer(lambda: _umount(folder))
    _old_reports(folder)
    with open(folder / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return folder


@pytest.fixture
def read_only_fs(tmp_path: Path, request, monkeypatch) -> Path:
    """A folder holding the old reports on a read-only tmpfs (EROFS injected where this
    process may not mount)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if not _mount(folder, "size=1m"):
        _old_reports(folder)
        _inject(monkeypatch, folder, errno.EROFS, at="open")
        return folder
    request.addfinalizer(lambda: _umount(folder))
    _old_reports(folder)
    _remount_read_only(folder)
    return folder


@pytest.fixture
def read_only_folder(tmp_path: Path, request, monkeypatch) -> Path:
    """A read-only folder even for root: a read-only bind mount of an ordinary folder."""
    source = tmp_path / "source"
    source.mkdir()
    _old_reports(source)
    folder = tmp_path / "ro-folder"
    folder.mkdir()
    if not _mount(folder, source=str(source)):
        folder.rmdir()
        folder.symlink_to(source)
        _inject(monkeypatch, source, errno.EROFS, at="open")
        return folder
    request.addfinalizer(lambda: _umount(folder))
    _remount_read_only(folder, bind=True)
    return folder


def _old_reports(folder: Path) -> None:
    for name in set(NAMES.values()):
        (folder / name).write_text(OLD)


def _assert_failed_cleanly(result, target: Path, *words: str) -> str:
    line = assert_bad_input(result, str(target), *words)
    assert "Traceback" not in line
    folder = target.parent
    assert not temporaries(folder)
    for name in set(NAMES.values()):
        if (folder / name).exists():
            assert (folder / name).read_text() == OLD
    return line


@pytest.mark.parametrize("writer", WRITERS)
def test_a_full_disk_is_exit_2_and_the_old_report_stays(writer, inputs, full_disk):
    before = sorted(os.listdir(full_disk))
    target = full_disk / NAMES[writer]
    _assert_failed_cleanly(write(writer, inputs, target), target, os.strerror(errno.ENOSPC))
    assert sorted(os.listdir(full_disk)) == before


def test_a_new_report_on_a_full_disk_leaves_nothing(inputs, full_disk):
    before = sorted(os.listdir(full_disk))
    target = full_disk / "new.json"
    _assert_failed_cleanly(write("eval", inputs, target), target, "No space left", "free some space")
    assert sorted(os.listdir(full_disk)) == before


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("where", ["read-only fs", "read-only folder"])
def test_a_read_only_place_is_exit_2_before_reading(writer, where, inputs, request):
    folder = request.getfixturevalue("read_only_fs" if where == "read-only fs" else "read_only_folder")
    for target in (folder / NAMES[writer], folder / ("new" + Path(NAMES[writer]).suffix)):
        before = sorted(os.listdir(folder))
        line = _assert_failed_cleanly(write(writer, inputs, target), target, "Read-only file system")
        assert "another folder" in line
        assert sorted(os.listdir(folder)) == before


@pytest.mark.parametrize("writer", WRITERS)
def test_a_missing_folder_or_a_file_as_folder_is_exit_2(writer, inputs, tmp_path):
    (tmp_path / "afile").write_text("x")
    name = NAMES[writer]
    for target, words in [
        (tmp_path / "no" / "such" / name, ["does not exist", "Create the folder"]),
        (tmp_path / "afile" / name, ["Not a directory"]),
    ]:
        assert_bad_input(write(writer, inputs, target), str(target), *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "in"]


@pytest.mark.parametrize("writer", WRITERS)
def test_a_directory_as_target_is_exit_2(writer, inputs, tmp_path):
    folder = tmp_path / ("reports" + Path(NAMES[writer]).suffix)  # a folder named like a file
    folder.mkdir()
    for target in (str(folder), str(folder) + "/", str(tmp_path / "missing.png") + "/"):
        line = assert_bad_input(write(writer, inputs, target), target)
        assert "directory" in line or "folder" in line or ".png" in line
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("writer", WRITERS)
def test_an_empty_path_is_named_as_such(writer, inputs):
    assert_bad_input(write(writer, inputs, ""), "empty path")


@pytest.mark.parametrize("writer", WRITERS)
def test_a_name_too_long_is_exit_2(writer, inputs, tmp_path):
    suffix = Path(NAMES[writer]).suffix
    for target in (tmp_path / ("r" * 300 + suffix), tmp_path / ("d" * 300) / ("r" + suffix)):
        assert_bad_input(write(writer, inputs, target), "File name too long", "shorter")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("path", ["/proc/r", "/proc/self/r", "/proc/version", "/sys/kernel/r"])
def test_proc_and_sys_are_exit_2(writer, path, inputs):
    # /proc/version has no .png name: --plot refuses it for that, still with exit 2
    target = path if os.path.exists(path) else path + Path(NAMES[writer]).suffix
    before = Path("/proc/version").read_bytes()
    assert_bad_input(write(writer, inputs, target), target)
    assert Path("/proc/version").read_bytes() == before


@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("at", ["fsync", "replace"])
def test_a_failure_at_the_fsync_or_the_rename_keeps_the_old_report(code, at, inputs, tmp_path, monkeypatch):
    """Errors no small file system gives on demand (EIO, a quota), injected at the write."""
    target = tmp_path / "report.json"
    target.write_text(OLD)

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(outputs.os, at, fail)
    line = _assert_failed_cleanly(write("eval", inputs, target), target, os.strerror(code), "--output")
    assert target.read_text() == OLD and sorted(p.name for p in tmp_path.iterdir()) == ["in", "report.json"]
    assert line.count(str(target)) == 1


class _Signalled(BaseException):
    """What a signal handler raising an exception of its own looks like."""


@pytest.mark.parametrize("exception", [KeyboardInterrupt, SystemExit, _Signalled])
@pytest.mark.parametrize("at", ["fsync", "write"])
def test_any_exception_during_the_write_removes_the_temporary(exception, at, tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text(OLD)

    def interrupted(*args):
        raise exception()

    if at == "fsync":
        monkeypatch.setattr(outputs.os, "fsync", interrupted)
    with pytest.raises(exception), outputs.open_atomically(str(target)) as file:
        file.write(b"new report, half")
        if at == "write":
            interrupted()
    assert target.read_text() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_an_interrupt_at_the_fsync_of_a_run_exits_130_and_leaves_the_old_report(
    inputs, tmp_path, monkeypatch
):
    target = tmp_path / "report.json"
    target.write_text(OLD)

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "fsync", interrupted)
    result = write("eval", inputs, target)
    assert result.exit_code == 130, result.stderr
    assert target.read_text() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "report.json"]


@pytest.mark.parametrize("target", ["/dev/full", "/dev/stdout"])
def test_a_failing_device_in_a_real_process_is_one_line_and_exit_2(target, inputs):
    """/dev/full says ENOSPC to every write; /dev/stdout here is /dev/full too."""
    with open("/dev/full", "wb") as full:
        result = _run(WRITERS["eval"](inputs, target), stdout=full, stderr=subprocess.PIPE)
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode().splitlines() == [
        f"infocli: error: {target}: cannot write --output: No space left on device. "
        "The disk is full: free some space or write to another disk."
    ]
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


# -------------------------------------------------------------------------- permissions


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for one test."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_mode_of_the_umask(writer, mask, mode, inputs, tmp_path, umask):
    umask(mask)
    target = tmp_path / NAMES[writer]
    assert_written(writer, write(writer, inputs, target), target)
    assert stat.S_IMODE(target.stat().st_mode) == mode


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("mode", [0o640, 0o600, 0o444, 0o755])
def test_a_replaced_file_keeps_its_mode_and_owner(writer, mode, inputs, tmp_path, umask):
    umask(0o022)
    target = tmp_path / NAMES[writer]
    target.write_text(OLD)
    target.chmod(mode)
    if os.geteuid() == 0:
        os.chown(target, 1234, 5678)
    owner = target.stat().st_uid, target.stat().st_gid
    assert_written(writer, write(writer, inputs, target), target)
    st = target.stat()
    assert stat.S_IMODE(st.st_mode) == mode
    assert (st.st_uid, st.st_gid) == owner


# ------------------------------------------------------------------------------ the API


def test_write_atomically_takes_text_and_bytes_and_names_its_option(tmp_path):
    target = tmp_path / "state.json"
    outputs.write_atomically(str(target), "é\n", option="--save-state")
    assert target.read_bytes() == "é\n".encode()
    outputs.write_atomically(str(target), b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    with pytest.raises(InfoCliError, match="--save-state folder .* does not exist"):
        outputs.write_atomically(str(tmp_path / "no" / "s.json"), "x", option="--save-state")
    with pytest.raises(InfoCliError, match="--save-state names the input"):
        outputs.check_targets([(None, "--output"), (str(target), "--save-state")], [None, "-", str(target)])
