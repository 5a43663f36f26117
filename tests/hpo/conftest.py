import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from hyperbox.kernel import Categorical, FloatRange, IntRange, Subset
from hyperbox.kernel.testing import ToyMutable, ToySpace


@pytest.fixture
def make_space():
    """A fresh toy space covering every domain, plus any ``extra`` mutables."""

    def make(*extra, floats=True):
        mutables = [
            ToyMutable("op", Categorical(3)),
            ToyMutable("inputs", Subset(4, 2)),
            ToyMutable("depth", IntRange(1, 7, step=2)),
        ]
        if floats:
            mutables.append(ToyMutable("lr", FloatRange(1e-4, 1e-1, log=True)))
        return ToySpace([*mutables, *extra])

    return make


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A private PostgreSQL server on 127.0.0.1 (its own cluster and port, trust auth), run as
    the ``postgres`` user when we are root (PostgreSQL refuses to run as root); yields the URL of
    its ``hyperbox`` database. Skipped without the Debian binaries, except in CI (``CI=true``),
    which must run it."""
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    as_root = os.geteuid() == 0
    if not initdb or as_root and shutil.which("runuser") is None:
        message = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    bin_dir = Path(initdb[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="hbk-postgres-"))  # not under pytest's root-only tmp dirs
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if as_root:
        for path in (root, sockets):
            shutil.chown(path, "postgres")
    port = _free_port()

    def as_postgres(*command):
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        return subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, timeout=120)

    as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
    as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "start")
    try:
        as_postgres(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "hyperbox")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/hyperbox"
    finally:
        as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
