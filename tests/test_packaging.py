"""The installed package list in pyproject.toml names every package of the tree."""

from __future__ import annotations

import tomllib
from searchlab_testing import REPO


def test_every_package_is_installed():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts)
             for p in (REPO / "searchlab").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert config["package-dir"]["searchlab_dashboards"] == "dashboards"
    assert (REPO / "dashboards" / "__init__.py").exists()
