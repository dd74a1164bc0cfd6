"""The public namespace matches the design's public API contract and loads lazily."""

from __future__ import annotations

import importlib
import pathlib
import re
import subprocess
import sys

import gptimage_widgets as giw

# The names the design's "Public API contract" promises (tests and docs rely on them).
DESIGN_CONTRACT = {
    "list_models",
    "get_model",
    "validate",
    "ValidationError",
    "ImageClient",
    "AsyncImageClient",
    "OfflineServer",
    "ImageResult",
    "ImageStudio",
    "ParameterForm",
    "MaskPainter",
    "plot_grid",
    "APIError",
    "ModerationError",
    "QuotaError",
}

# Added by the issues on top of the contract.
ISSUE_ADDITIONS = {
    "GPTImageError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "ResponseDecodeError",
    "Gallery",
    "studio",
    "plot_mask_overlay",
    "register_model",
    "ModelNotFoundError",
    "SweepResults",
    "load_sweep",
    "BatchJob",
    "AsyncBatchJob",
    "BatchResults",
}


def test_all_is_sorted_and_unique() -> None:
    assert giw.__all__ == sorted(giw.__all__)
    assert len(giw.__all__) == len(set(giw.__all__))


def test_all_covers_the_design_contract_and_issue_additions() -> None:
    missing = (DESIGN_CONTRACT | ISSUE_ADDITIONS) - set(giw.__all__)
    assert not missing, f"public names missing from __all__: {sorted(missing)}"


def test_every_name_in_all_resolves() -> None:
    unresolved = [name for name in giw.__all__ if getattr(giw, name, None) is None]
    assert unresolved == []


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from gptimage_widgets import *", namespace)
    assert set(giw.__all__) <= set(namespace)


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        giw.definitely_not_a_name  # noqa: B018
    except AttributeError as exc:
        assert "definitely_not_a_name" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(giw.ValidationError, ValueError)
    assert issubclass(giw.QuotaError, giw.APIError)
    assert issubclass(giw.ModerationError, giw.APIError)


def test_import_is_light() -> None:
    """Importing the package must not pull in httpx, ipywidgets or matplotlib."""
    heavy = ("httpx", "ipywidgets", "ipycanvas", "anywidget", "matplotlib")
    code = (
        f"import sys, gptimage_widgets; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_widgets_namespace() -> None:
    widgets = importlib.import_module("gptimage_widgets.widgets")
    assert widgets.__all__ == ["Gallery", "ImageStudio", "MaskPainter", "ParameterForm", "studio"]


def test_studio_function_is_not_shadowed_by_a_module() -> None:
    """`giw.studio` stays the function after the widget modules are imported."""
    code = (
        "import gptimage_widgets as giw, gptimage_widgets.widgets as w;"
        "giw.ImageStudio; import gptimage_widgets.widgets.image_studio;"
        "assert callable(giw.studio) and callable(w.studio), (giw.studio, w.studio)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version_has_one_home() -> None:
    """``_version.py`` holds the version; the package and pyproject.toml take it from there."""
    from gptimage_widgets import _version

    assert giw.__version__ == _version.__version__
    root = pathlib.Path(__file__).resolve().parents[1]
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    project = pyproject.split("[project]", 1)[1].split("\n[", 1)[0]
    static = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    if static:  # a static version must say the same
        assert static.group(1) == _version.__version__
    else:
        assert re.search(r'^dynamic\s*=\s*\[[^]]*"version"', project, re.MULTILINE)
        assert 'attr = "gptimage_widgets._version.__version__"' in pyproject


def test_no_module_of_the_package_imports_the_package_init() -> None:
    """Imports point down: ``from . import __version__`` (or any name of ``__init__``) is banned."""
    package = pathlib.Path(giw.__file__).parent
    init_names = {n for n in giw.__all__ if n[0].isupper() or n.startswith("__")}
    offenders = []
    for path in package.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == package:
            continue
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^\s*from (\.|gptimage_widgets) import ([^\n(]+)", text, re.M):
            names = {name.strip().split(" as ")[0] for name in match.group(2).split(",")}
            if names & init_names:
                offenders.append(f"{path.relative_to(package)}: {match.group(0).strip()}")
    assert offenders == []
