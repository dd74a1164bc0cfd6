"""A MaskDocument used from several threads at once stays exact.

JupyterLab >= 4.4 with ipykernel 7 runs widget messages on a subshell thread while a cell runs,
so the painter may commit strokes while cell code reads ``painter.mask``. Reads rasterize the
pending operations, so two unguarded readers applied the same ``Invert`` twice (a wrong mask)
or crashed with "dictionary changed size during iteration" (seen before the document's lock).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from gptimage_widgets.maskops import Invert, MaskDocument, Rect


@pytest.fixture
def fast_thread_switches() -> Iterator[None]:
    """Switch threads every 10 µs (default 5 ms) so interleavings happen within the test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("fast_thread_switches")
@pytest.mark.parametrize("seed", [0, 1])
def test_two_readers_and_a_writer_leave_the_exact_mask(seed: int) -> None:
    doc = MaskDocument(640, 480)
    errors: list[BaseException] = []
    done = threading.Event()

    def read_until_done() -> None:
        try:
            while not done.is_set():
                assert doc.mask.shape == (480, 640)
                doc.is_empty()
                doc.mask_image()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    readers = [threading.Thread(target=read_until_done) for _ in range(2)]
    for reader in readers:
        reader.start()
    rng = np.random.default_rng(seed)
    try:
        for index in range(200):
            x, y = (float(v) for v in rng.integers(0, 560, 2))
            doc.apply(Rect(x, y, x + 80, y + 60, erase=index % 4 == 0))
            if index % 5 == 0:
                doc.apply(Invert())
            if index % 9 == 0:
                doc.undo()
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert errors == []
    np.testing.assert_array_equal(doc.mask, doc.rasterize())  # the ops, each applied once
