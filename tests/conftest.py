import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOY_PLUGINS = Path(__file__).parent / "kernel" / "toy_plugins"
REPO = Path(__file__).resolve().parents[1]


def install_toy_plugins(site: Path, *names: str, plugins: Path = TOY_PLUGINS) -> Path:
    """Install toy plugins (``plugins/hbk_NAME.py``) the way pip does: the module plus a
    ``.dist-info`` with entry points."""
    site.mkdir(parents=True, exist_ok=True)
    for name in names:
        module = f"hbk_{name}"
        shutil.copy(plugins / f"{module}.py", site / f"{module}.py")
        dist_info = site / f"hyperbox_plugin_{name}-1.0.dist-info"
        dist_info.mkdir(exist_ok=True)
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hyperbox-plugin-{name}\nVersion: 1.0\n")
        (dist_info / "entry_points.txt").write_text(f"[hyperbox.plugins]\n{name} = {module}\n")
    return site


@pytest.fixture
def toy_site(tmp_path, monkeypatch):
    """A site directory on sys.path holding the toy plugins chosen by the test."""
    site = tmp_path / "site"
    for module in [m for m in sys.modules if m.startswith("hbk_")]:
        monkeypatch.delitem(sys.modules, module)

    def install(*names, plugins=TOY_PLUGINS):
        install_toy_plugins(site, *names, plugins=plugins)
        monkeypatch.syspath_prepend(str(site))
        return site

    return install


def _run_hbk(*args, site: Path | None = None, env=None, cwd=None, timeout=120):
    """Run the real ``hbk`` in a subprocess with ``site`` on the path."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HBK_")}
    if site is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), full_env.get("PYTHONPATH")]))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hyperbox.kernel.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture(autouse=True)
def _fresh_plugin_manager(monkeypatch):
    """Each test starts with no process-wide plugin manager and no HBK_* settings."""
    from hyperbox.kernel import plugins

    for key in list(os.environ):
        if key.startswith("HBK_"):
            monkeypatch.delenv(key)
    monkeypatch.setattr(plugins, "_manager", None)


@pytest.fixture
def hbk():
    """``hbk(*args, site=..., env=..., cwd=...)`` runs the CLI in a subprocess."""
    return _run_hbk
