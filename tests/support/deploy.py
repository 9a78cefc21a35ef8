"""A production install for the deployment smoke test (tests/deploy/): a clean virtualenv made
from ``requirements/production.txt`` alone, and the processes an operator runs from it.

The virtualenv is cached in ``.cache/`` (git-ignored) under a hash of every requirements file
the production install reads and of the interpreter, so a requirements change builds a new one.
A build happens in its own folder under a lock; the name the tests use,
``.cache/prod-venv-<hash>``, is a symbolic link that appears (atomically, by rename) only once
the build has succeeded, so an interrupted build is never used. The venv is not itself renamed:
its console scripts (``gunicorn``, ``celery``) name their interpreter by absolute path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"
PRODUCTION_REQUIREMENTS = ROOT / "requirements" / "production.txt"
VENV_PREFIX = "prod-venv-"
BUILD_TIMEOUT = 600  # seconds for `python -m venv` and `pip install` together
INCLUDE_OPTIONS = ("-r", "-c", "--requirement", "--constraint")


@contextlib.contextmanager
def file_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on ``path``, waiting at most ``timeout`` seconds for it.

    The kernel releases it when the holder dies, so a killed run never leaves it taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path} stayed locked for {timeout} s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def requirement_files(top: Path = PRODUCTION_REQUIREMENTS) -> list[Path]:
    """``top`` and every file it pulls in with -r or -c, recursively, each once."""
    found: list[Path] = []
    pending = [top.resolve()]
    while pending:
        current = pending.pop(0)
        if current in found:
            continue
        found.append(current)
        for line in current.read_text().splitlines():
            words = line.split("#", 1)[0].replace("=", " ", 1).split()
            if len(words) == 2 and words[0] in INCLUDE_OPTIONS:
                pending.append((current.parent / words[1]).resolve())
    return found


def venv_key() -> str:
    """A hash of what the venv is made from: the interpreter and the requirements files."""
    digest = hashlib.sha256()
    base = getattr(sys, "_base_executable", sys.executable)
    digest.update(f"{os.path.realpath(base)} {platform.python_version()}\n".encode())
    for path in requirement_files():
        digest.update(f"{path.relative_to(ROOT)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _run(args: list[str], timeout: float, what: str) -> None:
    try:
        result = subprocess.run(
            args, cwd=ROOT, capture_output=True, text=True, timeout=max(timeout, 1)
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} did not finish within {timeout:.0f} s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{output}")


def _remove_other_builds(keep: Path) -> None:
    """Called under the build lock: every other entry is an older or interrupted build."""
    for entry in CACHE.glob(f"*{VENV_PREFIX}*"):
        if entry == keep:
            continue
        if entry.is_symlink() or entry.is_file():
            entry.unlink()
        else:
            shutil.rmtree(entry, ignore_errors=True)


def production_venv() -> Path:
    """The cached production virtualenv for the current requirements, built if needed."""
    link = CACHE / f"{VENV_PREFIX}{venv_key()}"
    if (link / "bin" / "python").exists():
        return link
    with file_lock(CACHE / "prod-venv.lock", timeout=BUILD_TIMEOUT + 60):
        if (link / "bin" / "python").exists():  # built by another run while we waited
            return link
        _remove_other_builds(keep=link)
        build = CACHE / f"{link.name}.build-{secrets.token_hex(4)}"
        deadline = time.monotonic() + BUILD_TIMEOUT
        try:
            # Made from the interpreter the dev venv was made from, with only what
            # production.txt (and what it includes) asks for.
            _run([sys.executable, "-m", "venv", str(build)], BUILD_TIMEOUT, "python -m venv")
            _run(
                [str(build / "bin" / "python"), "-m", "pip", "install", "--quiet",
                 "-r", str(PRODUCTION_REQUIREMENTS)],
                deadline - time.monotonic(),
                "pip install -r requirements/production.txt",
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        staged = CACHE / f".{link.name}.{secrets.token_hex(4)}"
        staged.symlink_to(build.name)
        staged.replace(link)
    return link


class Service:
    """One long-running process (gunicorn, a worker, beat) with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.log = folder / f"{name}.log"
        self._handle = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self._terminated = False
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._handle, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that stop() reaches its children
        )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_for_output(self, text: str, timeout: float) -> bool:
        """True once ``text`` is in the output; False if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            if not self.running():
                return text in self.output()
            time.sleep(0.2)
        return False

    def tail(self, lines: int = 40) -> str:
        state = "running" if self.running() else f"exited with {self.proc.returncode}"
        last = "\n".join(self.output().splitlines()[-lines:])
        return f"--- {self.name} ({state}), last {lines} lines of {self.log}:\n{last}"

    def terminate(self) -> None:
        """SIGTERM, once: a warm shutdown for Celery, a graceful one for gunicorn."""
        if self.running() and not self._terminated:
            self._terminated = True
            self.proc.terminate()

    def stop(self, timeout: float = 20) -> None:
        """Terminate, then SIGKILL its whole process group if it is still there after
        ``timeout`` seconds."""
        try:
            self.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        finally:
            self._handle.close()
