"""Each package states its public names in ``__all__``; other packages import only those.

The convention (docs/ARCHITECTURE.md, "Public names"): a package's ``__init__.py`` lists in
``__all__`` the submodules other packages may import from (and any names it re-exports);
everything else in the package is its own business. Read from the source, so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vaultgate

SRC = Path(vaultgate.__file__).parent


def _package_of(module: str) -> str:
    """``vaultgate.upstream.config`` → ``upstream``; a top-level module (``vaultgate.config``) → ``""``."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (SRC / parts[1]).is_dir()):
        return parts[1]
    return ""


def _declared(package: str) -> set[str] | None:
    init = (SRC / package / "__init__.py") if package else SRC / "__init__.py"
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return None


def _cross_package_imports() -> list[tuple[str, str, str]]:
    """(importing file, package imported from, public name used) for every import across packages."""
    found = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC.parent).with_suffix("")
        own = _package_of(".".join(relative.parts).removesuffix(".__init__"))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("vaultgate"):
                module = node.module or ""
                parts = module.split(".")
                target = _package_of(module) if len(parts) > 1 else ""
                if target == own:
                    continue
                if len(parts) == 1 or (len(parts) == 2 and target):  # from vaultgate[.pkg] import name
                    found += [(str(relative), target, alias.name) for alias in node.names]
                else:  # from vaultgate.pkg.module import ... / from vaultgate.module import ...
                    found.append((str(relative), target, parts[2] if target else parts[1]))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == "vaultgate" and len(parts) > 1 and _package_of(alias.name) != own:
                        target = _package_of(alias.name)
                        found.append((str(relative), target, parts[2] if target and len(parts) > 2 else parts[1]))
    return found


def test_every_package_declares_its_public_names() -> None:
    packages = ["", *sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())]
    assert [p or "vaultgate" for p in packages if _declared(p) is None] == []


def test_packages_import_each_other_only_through_public_names() -> None:
    imports = _cross_package_imports()
    assert len(imports) > 50  # the walk found the imports (a broken walk would pass vacuously)
    undeclared = sorted(
        {
            f"{importer} uses {'vaultgate.' + package if package else 'vaultgate'}.{name}: add it to that __all__"
            for importer, package, name in imports
            if name not in (_declared(package) or set())
        }
    )
    assert undeclared == []
