"""Build hook: install the data files (the jupyter_server config) in editable installs too.

All metadata lives in ``pyproject.toml``. setuptools' ``editable_wheel`` installs the data
files only when the distribution answers ``has_data()``, a method its ``Distribution`` does not
define (it has ``has_data_files()``), so ``pip install -e .`` silently skipped
``etc/jupyter/jupyter_server_config.d/gptimage_widgets.json`` and the server extension was not
enabled. This distribution class answers it; a plain ``pip install .`` is unaffected.
"""

from setuptools import setup
from setuptools.dist import Distribution


class _Distribution(Distribution):
    def has_data(self) -> bool:
        return self.has_data_files()


setup(distclass=_Distribution)
