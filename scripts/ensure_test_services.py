"""Make sure what the test suite needs is here: PostgreSQL, Redis and Chromium.

A service that is installed but stopped is started; one that is missing fails the run with the
command that installs it. Nothing is ever skipped.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time

SERVICES = {
    "PostgreSQL": {
        "port": 5432,
        "binary": "pg_ctlcluster",
        "start": "pg_ctlcluster --skip-systemctl-redirect {version} main start",
        "install": "apt-get install -y postgresql  (then allow trust auth for 127.0.0.1)",
    },
    "Redis": {
        "port": 6379,
        "binary": "redis-server",
        "start": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
        "install": "apt-get install -y redis-server",
    },
}
CHROMIUM = "/usr/bin/chromium"


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(port: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reachable(port):
            return True
        time.sleep(0.5)
    return False


def ensure_service(name: str, spec: dict) -> str | None:
    if reachable(spec["port"]):
        return None
    if not shutil.which(spec["binary"]):
        return f"{name} is not installed. Install it with: {spec['install']}"
    command = spec["start"]
    if "{version}" in command:
        versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
        if not versions:
            return f"{name} has no cluster in /etc/postgresql. Install it with: {spec['install']}"
        command = command.format(version=versions[-1])
    print(f"{name} is not running; starting it: {command}", flush=True)
    subprocess.run(command, shell=True, check=False)  # noqa: S602 - a fixed command line
    if not wait_for(spec["port"]):
        return f"{name} did not start on 127.0.0.1:{spec['port']} (tried: {command})."
    return None


def apt_install(what: str, packages: list[str]) -> str | None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{what} is missing. Install it with: sudo apt-get install -y {' '.join(packages)}"
    print(f"Installing {what} (apt-get)...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        result = subprocess.run(step, env=env, check=False)  # noqa: S603
        if result.returncode != 0:
            return f"Could not install {what} ({' '.join(step)} exited {result.returncode})."
    return None


def ensure_chromium() -> str | None:
    if os.path.exists(CHROMIUM) and shutil.which("chromedriver"):
        return None
    problem = apt_install("Chromium for the browser tests", ["chromium", "chromium-driver"])
    if problem:
        return problem
    return None if os.path.exists(CHROMIUM) else "Chromium is still missing after apt-get."


def ensure_wrk() -> str | None:
    if shutil.which("wrk"):
        return None
    problem = apt_install("wrk for the benchmarks and a test of the soak's script", ["wrk"])
    if problem:
        return problem
    return None if shutil.which("wrk") else "wrk is still missing after apt-get."


def main() -> int:
    problems = [p for p in (ensure_service(n, s) for n, s in SERVICES.items()) if p]
    if chromium_problem := ensure_chromium():
        problems.append(chromium_problem)
    # wrk: the benchmarks load with it, and a test runs the soak's traffic script in it.
    if wrk_problem := ensure_wrk():
        problems.append(wrk_problem)
    if problems:
        print("The test suite cannot run:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    found = ", ".join(sorted(glob.glob("/etc/postgresql/*"))) or "PostgreSQL"
    print(f"Test services ready: {found} on :5432, Redis on :6379, {CHROMIUM}.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
