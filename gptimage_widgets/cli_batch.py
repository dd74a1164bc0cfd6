"""The ``gptimage batch`` commands: Batch API jobs from the command line.

Examples::

    gptimage batch submit prompts.txt --model gpt-image-1.5 --size 1024x1024
    gptimage batch submit items.jsonl --wait
    gptimage batch status batchjob_20261206_061500_1a2b3c4d
    gptimage batch wait ID
    gptimage batch fetch ID -o out/
    gptimage batch cancel ID
    gptimage batch list              # the history folder's jobs and the server's

``prompts.txt`` holds one prompt per line (blank lines and lines starting with ``#`` are
skipped); ``items.jsonl`` one JSON object per line, as ``client.submit_batch`` takes them
(``{"operation": "edit", "prompt": ..., "images": ["photo.png"], "mask": "mask.png"}``;
paths are relative to the file). Jobs are remembered in the history folder
(``--history``, default ``./gptimage-outputs``), so every command after ``submit`` finds
the job by its id (``list``, ``status``... also find jobs submitted from another machine on
the server). Built on :mod:`gptimage_widgets.batch` (no HTTP here); the parser
block is added to ``gptimage`` by :func:`gptimage_widgets.cli.build_parser`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import TYPE_CHECKING, Any

from .errors import ValidationError

if TYPE_CHECKING:
    from .batch import BatchJob
    from .client import ImageClient

__all__ = ["add_batch", "make_client", "read_items"]

_PARAMS = ("model", "size", "quality", "background", "output_format", "output_compression", "n")


def add_batch(commands: Any) -> None:
    """Add ``batch`` and its actions to the ``gptimage`` sub-commands."""
    parser = commands.add_parser("batch", help="Batch API jobs: half price, done within 24 h")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    submit = actions.add_parser("submit", help="validate and submit prompts.txt or items.jsonl")
    submit.add_argument("file", help="prompts.txt (one per line) or items.jsonl")
    submit.add_argument("--model")
    submit.add_argument("--size")
    submit.add_argument("--quality")
    submit.add_argument("--background")
    submit.add_argument("--output-format")
    submit.add_argument("--output-compression", type=int)
    submit.add_argument("--n", type=int)
    submit.add_argument("--wait", action="store_true", help="wait for the job to finish")
    submit.set_defaults(run=_run_submit)
    for name, run, text in (
        ("status", _run_status, "ask the server for a job's status"),
        ("wait", _run_wait, "wait until a job has finished"),
        ("fetch", _run_fetch, "write a finished job's images and manifest.jsonl"),
        ("cancel", _run_cancel, "cancel a job"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("id", help="batchjob_... (or one of its batch_... ids)")
        action.set_defaults(run=run)
        if name == "wait":
            action.add_argument("--timeout", type=float, help="give up after SECONDS")
        if name == "fetch":
            action.add_argument("-o", "--output", required=True, help="folder for the images")
    listing = actions.add_parser(
        "list", help="the jobs of the history folder and of the server (GET /v1/batches)"
    )
    listing.add_argument(
        "--limit",
        type=int,
        default=100,
        help="read at most N batches from the server (0: the history folder only)",
    )
    listing.set_defaults(run=_run_list)
    for action in actions.choices.values():
        _add_connection(action)


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="an OpenAI-compatible API root, e.g. .../v1")
    parser.add_argument("--history", metavar="DIR", help="history folder (./gptimage-outputs)")


def make_client(args: argparse.Namespace) -> ImageClient:
    """The client of a batch command (tests replace this)."""
    from .client import ImageClient

    return ImageClient(base_url=args.base_url, history=args.history)


def read_items(path: str | pathlib.Path) -> list[Any]:
    """The items of a ``.txt`` (prompts) or ``.jsonl`` (objects) file.

    Relative ``images`` / ``mask`` paths in a JSONL file are taken relative to the file.
    """
    file = pathlib.Path(path)
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() not in (".jsonl", ".ndjson"):
        return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ValidationError(
                f"{file}:{number}: not a JSON object ({exc})", param="file", value=str(file)
            ) from None
        items.append(_relative_paths(item, file.parent) if isinstance(item, dict) else item)
    return items


def _relative_paths(item: dict[str, Any], folder: pathlib.Path) -> dict[str, Any]:
    def resolve(value: Any) -> Any:
        if isinstance(value, str) and not value.startswith("data:"):
            return str(folder / value)
        return value

    if isinstance(item.get("images"), list):
        item["images"] = [resolve(v) for v in item["images"]]
    elif "images" in item:
        item["images"] = resolve(item["images"])
    if "mask" in item:
        item["mask"] = resolve(item["mask"])
    return item


def _describe(job: BatchJob) -> str:
    counts = job.counts
    return (
        f"{job.id}: {job.status}, {counts['completed']} completed, {counts['failed']} failed "
        f"of {job.size} ({len(job.batch_ids)} batch"
        f"{'es' if len(job.batch_ids) != 1 else ''}: {', '.join(job.batch_ids)})"
    )


def _run_submit(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK, _out

    common = {name: getattr(args, name) for name in _PARAMS if getattr(args, name) is not None}
    items = read_items(args.file)
    with make_client(args) as client:
        job = client.submit_batch(items, **common)
        estimate = job.estimate()
        _out(f"submitted {_describe(job)}")
        if estimate is not None:
            _out(f"estimated cost at batch price: {estimate}")
        if args.wait:
            job.wait()
            _out(_describe(job))
    return EXIT_OK


def _run_status(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK, _out

    with make_client(args) as client:
        _out(_describe(client.get_batch(args.id).refresh()))
    return EXIT_OK


def _run_wait(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK, _out

    with make_client(args) as client:
        _out(_describe(client.get_batch(args.id).wait(timeout=args.timeout)))
    return EXIT_OK


def _run_fetch(args: argparse.Namespace) -> int:
    from .cli import EXIT_ERROR, EXIT_OK, _err, _out

    with make_client(args) as client:
        results = client.get_batch(args.id).results()
    for index, error in sorted(results.errors.items()):
        _err(f"item {index}: {error}")
    manifest = results.save(args.output)  # what job.export writes; load_sweep reads it back
    images = sum(len(result.images) for result in results if result is not None)
    _out(f"wrote {images} image(s) and {manifest}")
    _out(f"read it back with gptimage_widgets.load_sweep({str(manifest.parent)!r})")
    return EXIT_ERROR if results.errors else EXIT_OK


def _run_cancel(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK, _out

    with make_client(args) as client:
        _out(_describe(client.get_batch(args.id).cancel()))
    return EXIT_OK


def _run_list(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK, _out, _table

    with make_client(args) as client:
        jobs = client.list_batches(limit=args.limit)
        if not jobs:
            _out("no batch jobs in this history folder or on the server")
            return EXIT_OK
        rows = [("JOB", "CREATED", "STATUS", "ITEMS", "BATCHES")]
        for job in jobs:
            created = job.record.created[:16].replace("T", " ")
            rows.append((job.id, created, job.status, str(job.size), str(len(job.batch_ids))))
        _out(_table(rows))
    return EXIT_OK
