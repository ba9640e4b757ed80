"""The layout is the architecture: import-linter checks pyproject.toml's contracts.

The numeric core (the modules flat in ``webapp/``) never imports FastAPI, Starlette, the
server layer or the autoencoder; only ``webapp.server`` and ``webapp.cli`` speak HTTP.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_import_contract_is_kept() -> None:
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_numeric_core_loads_without_the_web_framework() -> None:
    """The contracts read the source; this imports it: every core module, and nothing of
    FastAPI or Starlette comes along (not even indirectly)."""
    core = sorted(path.stem for path in (ROOT / "webapp").glob("*.py")
                  if path.stem not in ("__init__", "__main__", "main", "cli"))
    check = (f"import sys; import {', '.join(f'webapp.{name}' for name in core)}; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('fastapi', 'starlette', 'pydantic_settings') "
             "or m.startswith(('webapp.server', 'webapp.autoencoder'))))")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert len(core) >= 12, core


def test_the_readme_maps_every_module() -> None:
    """Each module of the package appears in the README's map (by path, or by name in its
    package's rows), so that a newcomer finds it."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## How the code is laid out"):]
    section = section[: section.index("\n## ", 3)]
    missing = []
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py":
            continue
        if relative not in section and f"`{path.name}`" not in section and (
            f"`{path.stem}`" not in section
        ):
            missing.append(relative)
    assert missing == [], missing
