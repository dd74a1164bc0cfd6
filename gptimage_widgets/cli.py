"""The ``gptimage`` command line: generate, edit, vary, list models, serve, browse history.

Examples::

    gptimage generate "a lighthouse at dusk" --offline -o out.png
    gptimage edit "add a red boat" photo.png --mask mask.png -o edited.png
    gptimage models
    gptimage models --refresh          # what GET /v1/models says this key can use
    gptimage serve --port 8000 --latency 0.5
    gptimage history search lighthouse --model gpt-image-2
    gptimage batch submit prompts.txt --size 1024x1024   (see gptimage_widgets/cli_batch.py)
    gptimage settings show             # the painter's remembered tool, brush, opacity, colour
    gptimage settings reset            # forget them (deletes the settings file)

Requests go through :class:`gptimage_widgets.client.ImageClient` (no HTTP here). The API key
comes from ``OPENAI_API_KEY`` only — never from the command line, where it would land in
shell history and process lists — and is never printed. Exit codes: 0 success, 1 API or
other runtime error, 2 invalid input (every problem is listed), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .cli_batch import add_batch
from .errors import GPTImageError, ValidationError
from .redact import redact

if TYPE_CHECKING:  # imported lazily so that `gptimage --help` stays instant
    from .client import ImageClient
    from .results import ImageResult

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130
_SECRET_VARIABLES = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``gptimage`` argument parser with its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="gptimage",
        description="OpenAI image models from the command line (offline server included).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_generate(commands)
    _add_edit(commands)
    _add_variations(commands)
    _add_models(commands)
    _add_serve(commands)
    _add_history(commands)
    add_batch(commands)  # gptimage batch ...: gptimage_widgets/cli_batch.py
    _add_settings(commands)
    return parser


def _add_request_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that send a request."""
    parser.add_argument("--n", type=int, default=1, help="number of images (default 1)")
    parser.add_argument("--size", help="'auto', a preset or WIDTHxHEIGHT")
    parser.add_argument("-o", "--output", help="file (out.png; numbered when n > 1) or folder")
    parser.add_argument(
        "--offline", action="store_true", help="use the embedded offline server (no key, no cost)"
    )
    parser.add_argument("--base-url", help="an OpenAI-compatible API root, e.g. .../v1")
    parser.add_argument("--history", metavar="DIR", help="history folder (./gptimage-outputs)")
    parser.add_argument("--no-history", action="store_true", help="do not save to the history")


def _add_image_options(parser: argparse.ArgumentParser) -> None:
    """Options of generate and edit."""
    parser.add_argument("--quality", help="e.g. low, medium, high, auto")
    parser.add_argument("--background", help="auto, opaque or transparent")
    parser.add_argument("--output-format", help="png, jpeg or webp")
    parser.add_argument("--output-compression", type=int, help="0-100, jpeg/webp only")
    parser.add_argument("--partial-images", type=int, default=0, help="stream 1-3 previews")


def _add_generate(commands: Any) -> None:
    parser = commands.add_parser("generate", help="make images from a prompt")
    parser.add_argument("prompt")
    parser.add_argument("--model", default="gpt-image-2")
    _add_request_options(parser)
    _add_image_options(parser)
    parser.add_argument("--moderation", help="auto or low")
    parser.add_argument("--style", help="vivid or natural (dall-e-3)")
    parser.set_defaults(run=_run_generate)


def _add_edit(commands: Any) -> None:
    parser = commands.add_parser("edit", help="edit images (inpaint with --mask)")
    parser.add_argument("prompt")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="input image file(s)")
    parser.add_argument("--mask", help="RGBA PNG, alpha 0 = edit here (OpenAI's convention)")
    parser.add_argument("--model", default="gpt-image-2")
    _add_request_options(parser)
    _add_image_options(parser)
    parser.add_argument("--input-fidelity", help="high or low (models that take it)")
    parser.set_defaults(run=_run_edit)


def _add_variations(commands: Any) -> None:
    parser = commands.add_parser("variations", help="variations of one image (dall-e-2)")
    parser.add_argument("image")
    parser.add_argument("--model", default="dall-e-2")
    _add_request_options(parser)
    parser.set_defaults(run=_run_variations)


def _add_models(commands: Any) -> None:
    parser = commands.add_parser("models", help="list the known models and their lifecycle")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="ask the server (GET /v1/models, with OPENAI_API_KEY) which models this key can "
        "use, and which image models it lists that the catalog lacks",
    )
    parser.add_argument(
        "--offline", action="store_true", help="with --refresh: ask the embedded offline server"
    )
    parser.add_argument("--base-url", help="with --refresh: an OpenAI-compatible API root")
    parser.set_defaults(run=_run_models)


def _add_serve(commands: Any) -> None:
    parser = commands.add_parser("serve", help="run the offline server until Ctrl+C")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on; the server has no authentication: keep 127.0.0.1",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=None,
        help="connections served at once; beyond, 503 (default 256)",
    )
    parser.add_argument(
        "--lifecycle",
        choices=["lenient", "openai"],
        default="lenient",
        help="'openai': answer models shut down at OpenAI today with 404 model_not_found",
    )
    parser.set_defaults(run=_run_serve)


def _add_history(commands: Any) -> None:
    parser = commands.add_parser("history", help="list or search saved results")
    parser.add_argument("action", nargs="?", choices=("list", "search"), default="list")
    parser.add_argument("text", nargs="?", help="text the prompt must contain (search)")
    parser.add_argument("--model", help="only this model")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--folder", help="history folder (./gptimage-outputs)")
    parser.set_defaults(run=_run_history)


def _add_settings(commands: Any) -> None:
    parser = commands.add_parser("settings", help="show or reset the remembered widget settings")
    parser.add_argument(
        "action",
        nargs="?",
        choices=("show", "path", "reset"),
        default="show",
        help="show (default): the file and its content; path: the file; reset: delete it",
    )
    parser.set_defaults(run=_run_settings)


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gptimage`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ValidationError as exc:
        _print_problems(exc)
        return EXIT_INVALID
    except GPTImageError as exc:
        _err(f"error: {exc}")
        return EXIT_ERROR
    except OSError as exc:
        _err(f"error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED


def _out(text: str, stream: TextIO | None = None) -> None:
    """Print `text` without secrets (the keys in the environment, anything key-like)."""
    secrets = [os.environ.get(name) for name in _SECRET_VARIABLES]
    print(redact(text, secrets), file=stream or sys.stdout, flush=True)


def _err(text: str) -> None:
    _out(text, sys.stderr)


def _print_problems(exc: ValidationError) -> None:
    count = len(exc.problems)
    _err(f"invalid request ({count} problem{'s' if count != 1 else ''}):")
    for problem in exc.problems:
        _err(f"  - {problem.param}: {problem.message}" if problem.param else f"  - {problem}")


# --------------------------------------------------------------------------- requests


def _client(args: argparse.Namespace) -> ImageClient:
    from .client import ImageClient

    history: Any = False if args.no_history else args.history
    backend = "offline" if args.offline else "auto"
    return ImageClient(
        base_url=None if args.offline else args.base_url, backend=backend, history=history
    )


def _image_params(args: argparse.Namespace) -> dict[str, Any]:
    """The request options the user gave (None = leave to the model's default)."""
    names = (
        "size",
        "quality",
        "background",
        "output_format",
        "output_compression",
        "moderation",
        "style",
        "input_fidelity",
        "partial_images",
    )
    params = {name: getattr(args, name, None) for name in names}
    return {name: value for name, value in params.items() if value not in (None, 0)}


def _run_generate(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.generate(args.prompt, model=args.model, n=args.n, **_image_params(args))
    return _report(result, args)


def _run_edit(args: argparse.Namespace) -> int:
    images: Any = args.images if len(args.images) > 1 else args.images[0]
    with _client(args) as client:
        result = client.edit(
            args.prompt, images, mask=args.mask, model=args.model, n=args.n, **_image_params(args)
        )
    return _report(result, args)


def _run_variations(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.variations(args.image, model=args.model, n=args.n, **_image_params(args))
    return _report(result, args)


def _report(result: ImageResult, args: argparse.Namespace) -> int:
    """Write ``-o`` files and say where every image is, what it cost and its request id."""
    paths = result.save(args.output) if args.output else list(result.paths)
    if not paths:
        _err("note: nothing was written; pass -o FILE or leave the history on")
    for path, (width, height) in zip(paths, result.sizes, strict=False):
        _out(f"wrote {path} ({width}x{height})")
    if args.output and result.paths:
        _out(f"history: {result.paths[0].parent}")
    details = [f"model {result.model}"]
    if result.cost_usd is not None:
        estimate = " (estimate)" if result.cost_is_estimate else ""
        details.append(f"cost ${result.cost_usd:.4f}{estimate}")
    if result.request_id:
        details.append(f"request id {result.request_id}")
    _out(", ".join(details))
    for note in result.notes:
        _err(f"note: {note}")
    return EXIT_OK


# --------------------------------------------------------------------------- models


def _run_models(args: argparse.Namespace) -> int:
    """The catalog with today's status; ``--refresh``: what the server lists for this key."""
    if args.refresh:
        return _run_models_refresh(args)
    from .catalog import list_models, replacements_text
    from .catalog.lifecycle import BACKEND_LABELS

    rows = [("MODEL", "STATUS", "SHUTDOWN", "OPERATIONS", "NOTE")]
    retired = 0
    for spec in list_models(include_shutdown=True):
        status = spec.status
        shutdown = spec.shutdown_date.isoformat() if spec.shutdown_date else "-"
        notes = [f"{BACKEND_LABELS.get(b, b)}: {d}" for b, d in spec.shutdown_dates.items()]
        if status == "shutdown":
            retired += 1
            notes.insert(0, "RETIRED at OpenAI")
        if spec.replacements and status in ("deprecated", "shutdown"):
            notes.append(f"use {replacements_text(spec)}")
        row = (spec.name, status, shutdown, ",".join(spec.operations), "; ".join(notes))
        rows.append(row)
    _out(_table(rows))
    if retired:
        _out(
            f"{retired} RETIRED model(s): the OpenAI backend refuses them before sending "
            "(allow_retired=True sends anyway); compatible and offline servers still serve them."
        )
    return EXIT_OK


def _models_client(args: argparse.Namespace) -> ImageClient:
    """The client ``models --refresh`` asks: the offline server with ``--offline``, else
    OpenAI (or ``--base-url``) with ``OPENAI_API_KEY`` (tests replace this factory).

    Raises
    ------
    ValidationError
        No ``--offline`` and no key for api.openai.com.
    """
    from .client import ImageClient

    if args.offline:
        return ImageClient(backend="offline", history=False)
    return ImageClient(base_url=args.base_url, backend="openai", history=False)


def _run_models_refresh(args: argparse.Namespace) -> int:
    import json

    from .backends import apply_model_status
    from .catalog.overlay import ENV_VAR
    from .model_listing import compare_listing

    with _models_client(args) as client:
        items = client.list_server_models()
        where, backend = client.base_url, client.backend
    changed = apply_model_status({"data": items})
    report = compare_listing(items)
    _out(f"GET {where}/models: {report.listed} model(s) listed ({backend} backend)")
    if backend == "offline":
        _out("note: the offline server lists this kit's own catalog; OPENAI_API_KEY asks OpenAI")
    rows = [("CAN USE", "STATUS", "LISTED AS")]
    rows += [(spec.name, spec.status, listed_as) for spec, listed_as in report.usable]
    _out(f"Catalog models this key can use ({len(report.usable)}):")
    _out(_table(rows) if report.usable else "  none")
    if report.unlisted:
        names = ", ".join(spec.name for spec in report.unlisted)
        _out(f"Catalog models not listed for this key ({len(report.unlisted)}): {names}")
    if changed:
        _out(f"Shutdown dates updated from the listing: {', '.join(changed)}")
    if not report.missing:
        _out("The server lists no image model that the catalog lacks.")
        return EXIT_OK
    _out(f"Image models listed that the catalog lacks ({len(report.missing)}):")
    for suggestion in report.missing:
        _out(f"  {suggestion.model_id}  (closest catalog model: {suggestion.base})")
    entries = json.dumps([s.entry for s in report.missing], indent=2)
    _out(
        f"To use them, save these entries as a JSON file (e.g. models.json) and set {ENV_VAR} "
        "to its path before Python starts (read when gptimage_widgets is imported); "
        '"base" copies the parameters of the closest catalog model: check them against '
        "OpenAI's API reference."
    )
    _out(entries)
    _out(f"  export {ENV_VAR}=$PWD/models.json")
    return EXIT_OK


def _table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


# --------------------------------------------------------------------------- serve


def _run_serve(args: argparse.Namespace) -> int:
    from .backends import is_loopback
    from .offline import OfflineServer

    limits = {} if args.max_connections is None else {"max_connections": args.max_connections}
    server = OfflineServer(
        latency=args.latency, port=args.port, host=args.host, lifecycle=args.lifecycle, **limits
    ).start()
    if not is_loopback(args.host):
        _err(
            f"warning: --host {args.host} is not a loopback address, and the offline server has "
            f"no authentication: anyone who can reach this machine on port {server.port} can "
            "use it and see what it was sent. Keep the default 127.0.0.1 unless you mean that."
        )
    _out(f"Serving OpenAI-compatible images API at {server.base_url} (Ctrl+C to stop)")
    _out(f"  e.g. OpenAI(api_key='sk-test-FAKE', base_url='{server.base_url}')")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        _out("stopped")
    finally:
        server.stop()
    return EXIT_OK


# --------------------------------------------------------------------------- settings


def _run_settings(args: argparse.Namespace) -> int:
    """``gptimage settings show|path|reset``: the painter's remembered settings file."""
    import json

    from . import settings

    path = settings.settings_path(settings.PAINTER)
    if args.action == "path":
        _out(str(path))
    elif args.action == "reset":
        deleted = settings.reset_settings()
        _out(f"deleted {', '.join(map(str, deleted))}" if deleted else f"nothing to reset ({path})")
    elif not path.exists():
        _out(f"no painter settings saved yet ({path})")
    else:
        _out(f"{path}:")
        _out(json.dumps(settings.load_settings(settings.PAINTER), indent=2, sort_keys=True))
    return EXIT_OK


# --------------------------------------------------------------------------- history


def _run_history(args: argparse.Namespace) -> int:
    from .history import DEFAULT_FOLDER, HistoryStore

    if args.action == "search" and not args.text:
        raise ValidationError(
            "history search needs TEXT: gptimage history search lighthouse", param="text"
        )
    store = HistoryStore(args.folder or DEFAULT_FOLDER)
    text = args.text if args.action == "search" else None
    entries = store.search(text, model=args.model, limit=args.limit)
    if not entries:
        _out(f"no saved results in {store.folder}" + (f" matching {text!r}" if text else ""))
        return EXIT_OK
    rows = [("SAVED", "MODEL", "OP", "IMAGES", "COST", "PROMPT")]
    for entry in entries:
        cost = f"${entry.cost_usd:.4f}" if entry.cost_usd is not None else "-"
        prompt = entry.prompt if len(entry.prompt) <= 50 else entry.prompt[:49] + "…"
        rows.append(
            (
                entry.created.strftime("%Y-%m-%d %H:%M"),
                entry.model,
                entry.operation,
                str(len(entry.paths)),
                cost,
                prompt,
            )
        )
    _out(_table(rows))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
