"""An embedded, OpenAI-compatible images server for offline use and tests.

``OfflineServer`` answers ``/v1/images/generations``, ``/v1/images/edits``,
``/v1/images/variations`` and ``/v1/models`` like OpenAI does, with deterministic synthetic
images, optional latency and injectable faults (:class:`Fault`, or the
``x-offline-fault`` header), plus OpenAI's Files and Batch APIs (``/v1/files``,
``/v1/batches``) for image batches, kept in memory. It reuses the catalog and validation,
so what it accepts is exactly what the client accepts. Stdlib HTTP, numpy and Pillow only.
"""

from __future__ import annotations

from .faults import FAULT_HEADER, KINDS, Fault
from .responses import FileInfo, RequestRecord
from .server import OfflineServer

__all__ = ["FAULT_HEADER", "KINDS", "Fault", "FileInfo", "OfflineServer", "RequestRecord"]
