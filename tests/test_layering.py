"""Imports point down only: core never imports I/O or UI packages; the client never imports UI.

Also, read from the source with ``ast``: nothing inside the package imports the package
``__init__`` (version and names come from their own modules, e.g. ``_version.py``), and widget
modules share helpers only through ``widgets/_display.py`` (a widget's private parts are its own).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import gptimage_widgets

CORE = [
    "errors",
    "catalog",
    "validation",
    "input_checks",
    "_messages",
    "request",
    "imaging",
    "maskops",
    "results",
    "pricing",
    "history",
    "private_files",
    "batch_lines",
    "batch_store",
    "ratelimit",
    "request_cache",
    "sweeps",
    "settings",
    "masks",
    "redact",
    "history_index",
    "model_listing",
    "_lazy",
    "_types",
    "_version",
]
#: Modules allowed to import UI packages; every other module is core or client layer.
UI_MODULES = {"widgets", "plotting", "jupyter_nodelay"}
#: Every other module of the package (found on disk, so a new module is checked from day one).
CLIENT = sorted(
    path.stem if path.suffix == ".py" else path.name
    for path in Path(gptimage_widgets.__file__).resolve().parent.iterdir()
    if (path.suffix == ".py" or (path / "__init__.py").is_file())
    and path.stem not in {"__init__", *UI_MODULES, *CORE}
)
UI_PACKAGES = ("ipywidgets", "ipycanvas", "anywidget", "matplotlib", "IPython.display")
IO_PACKAGES = ("httpx",)


def _modules_loaded_by(module: str) -> set[str]:
    code = f"import sys, gptimage_widgets.{module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", CORE)
def test_core_imports_no_io_and_no_ui(module: str) -> None:
    loaded = _modules_loaded_by(module)
    leaked = [p for p in (*UI_PACKAGES, *IO_PACKAGES) if p in loaded]
    assert leaked == [], f"gptimage_widgets.{module} imports {leaked}"


@pytest.mark.parametrize("module", CLIENT)
def test_client_layer_imports_no_ui(module: str) -> None:
    loaded = _modules_loaded_by(module)
    leaked = [p for p in UI_PACKAGES if p in loaded]
    assert leaked == [], f"gptimage_widgets.{module} imports {leaked}"


# --------------------------------------------------------------------------- static import rules
# Parsed with ast, so imports inside functions (lazy ones) count too.

PACKAGE_DIR = Path(gptimage_widgets.__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name
WIDGETS = f"{PACKAGE}.widgets"
#: Widget modules may import each other's *widgets* (the studio is built from the form, the
#: painter and the gallery), never each other's helpers: those live in ``widgets/_display.py``.
SHARED_WIDGET_MODULES = {f"{WIDGETS}._display"}
#: A widget's own private parts (split out to keep modules small) and the widget owning them:
#: only that widget's module and its other parts may import a part.
PRIVATE_PARTS = {
    f"{WIDGETS}._controls": f"{WIDGETS}.form",
    f"{WIDGETS}._ink_layer": f"{WIDGETS}.painter",
    f"{WIDGETS}._painter_controls": f"{WIDGETS}.painter",
    f"{WIDGETS}._painter_input": f"{WIDGETS}.painter",
    f"{WIDGETS}._painter_layers": f"{WIDGETS}.painter",
    f"{WIDGETS}._painter_mouse": f"{WIDGETS}.painter",
    f"{WIDGETS}._painter_settings": f"{WIDGETS}.painter",
    f"{WIDGETS}._painter_view": f"{WIDGETS}.painter",
    f"{WIDGETS}._studio_status": f"{WIDGETS}.image_studio",
}


def _part_of_same_widget(target: str, module: str) -> bool:
    """``target`` is a private part of ``module``'s widget (``module`` is it or a part)."""
    owner = PRIVATE_PARTS.get(target)
    return owner is not None and owner in (module, PRIVATE_PARTS.get(module))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(module: str) -> bool:
    return (PACKAGE_DIR.parent / module.replace(".", "/") / "__init__.py").is_file()


def _is_module(module: str) -> bool:
    base = PACKAGE_DIR.parent / module.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str, str | None]]:
    """``(line, imported module, imported name or None)`` for every import in ``source``.

    ``from X import name`` yields ``(line, "X.name", None)`` when ``X.name`` is a module (the
    name is a submodule), else ``(line, "X", "name")`` (a name defined in ``X``).
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                target = ".".join(p for p in (base, node.module) if p)
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if _is_module(submodule):
                    yield node.lineno, submodule, None
                else:
                    yield node.lineno, target, alias.name


def package_init_imports(source: str, module: str, is_package: bool) -> list[str]:
    """Imports in ``module`` that take something from the package ``__init__`` itself."""
    return [
        f"{module}:{line} imports {name or 'the package'} from {PACKAGE}/__init__.py"
        for line, target, name in _imports(source, module, is_package)
        if target == PACKAGE
    ]


def widget_helper_imports(source: str, module: str, widget_classes: Mapping[str, str]) -> list[str]:
    """Imports of a widget module from another widget module that are not a widget class.

    ``widget_classes`` maps each public widget name to its module (``widgets.__init__``).
    """
    found = []
    for line, target, name in _imports(source, module, is_package=False):
        if not target.startswith(WIDGETS) or target in (module, *SHARED_WIDGET_MODULES):
            continue
        if _part_of_same_widget(target, module):
            continue
        allowed = name is not None and widget_classes.get(name) == target.rpartition(".")[2]
        if not allowed:
            what = f"{name} from {target}" if name else target
            found.append(f"{module}:{line} imports {what} (shared helpers: widgets/_display.py)")
    return found


def _package_sources() -> list[tuple[Path, str]]:
    return [(p, _module_name(p)) for p in sorted(PACKAGE_DIR.rglob("*.py"))]


def test_nothing_inside_the_package_imports_the_package_init() -> None:
    found = [
        problem
        for path, module in _package_sources()
        if module != PACKAGE
        for problem in package_init_imports(path.read_text(), module, path.name == "__init__.py")
    ]
    assert found == [], "\n".join(found)


def test_widget_modules_share_helpers_only_through_display() -> None:
    from gptimage_widgets.widgets import _LAZY

    found = [
        problem
        for path, module in _package_sources()
        if module.startswith(f"{WIDGETS}.")
        for problem in widget_helper_imports(path.read_text(), module, _LAZY)
    ]
    assert found == [], "\n".join(found)


def test_the_static_import_checks_catch_what_they_forbid() -> None:
    """The two checks above, on sources that break them (so they cannot pass vacuously)."""
    bad_top = "from . import __version__, imaging\nimport gptimage_widgets\n"
    assert len(package_init_imports(bad_top, f"{PACKAGE}.client", False)) == 2
    bad_sub = "def f():\n    from .. import __version__\n    from .. import catalog\n"
    assert len(package_init_imports(bad_sub, f"{PACKAGE}.offline.app", False)) == 1
    assert len(package_init_imports(bad_sub, f"{PACKAGE}.offline", True)) == 1
    own_init = "from . import OfflineServer\n"  # the subpackage's own __init__, not the package's
    assert package_init_imports(own_init, f"{PACKAGE}.offline.app", False) == []
    widget_classes = {"Gallery": "gallery", "MaskPainter": "painter"}
    studio = f"{WIDGETS}.image_studio"
    fine = "from .gallery import Gallery\nfrom ._display import display_bytes\n"
    assert widget_helper_imports(fine, studio, widget_classes) == []
    bad = (
        "from .gallery import Gallery, display_bytes\n"
        "from . import painter\n"
        "from gptimage_widgets.widgets.painter import _rgba_at\n"
        "from . import Gallery\n"
    )
    assert len(widget_helper_imports(bad, studio, widget_classes)) == 4
    parts = "from ._controls import make_control\n"
    assert widget_helper_imports(parts, f"{WIDGETS}.form", widget_classes) == []
    assert len(widget_helper_imports(parts, studio, widget_classes)) == 1
    sibling = "from ._painter_view import View\n"  # a painter part using another painter part
    assert widget_helper_imports(sibling, f"{WIDGETS}._painter_input", widget_classes) == []
    assert len(widget_helper_imports(sibling, f"{WIDGETS}._controls", widget_classes)) == 1
