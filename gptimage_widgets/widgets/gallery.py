"""Gallery: thumbnails of images, a larger preview, Save, Compare and hand-off actions.

Owns the :class:`Gallery` widget and its :class:`GalleryItem` records. Images come from
:class:`~gptimage_widgets.results.ImageResult` objects, from any image input
(:func:`gptimage_widgets.imaging.to_arrays`), or from a history store
(:meth:`Gallery.from_history`). The full-resolution arrays stay in the kernel; only small
thumbnails and one downscaled preview, encoded by ``widgets/_display.py``, reach the browser,
so a page of 4K results costs kilobytes, not megabytes.

Clicking a thumbnail selects it (the preview and a caption with size, model, revised prompt
and cost). Save writes through ``ImageResult.save`` (plain arrays: one image file); Compare
shows the two images ticked "compare" side by side. "Edit this" and "Use as reference" call
the callbacks registered with :meth:`Gallery.on_send_to_painter` and
:meth:`Gallery.on_use_as_reference` (the :class:`~gptimage_widgets.widgets.ImageStudio`
registers its ``edit_image`` and ``add_reference``). A failing action shows its error in the
status line; a click never raises.
"""

from __future__ import annotations

import dataclasses
import html
import pathlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from ..errors import GPTImageError, ValidationError
from ..imaging import encode_image, to_array, to_arrays
from ..results import ImageResult
from ._display import display_bytes, error_html, thumbnail

# display_bytes and thumbnail live in widgets/_display.py; re-exported for compatibility
__all__ = ["Gallery", "GalleryItem", "display_bytes", "thumbnail"]

THUMB_EDGE = 160
PREVIEW_EDGE = 768
COMPARE_EDGE = 512

ImageCallback = Callable[[np.ndarray], Any]


def _short(text: str | None, limit: int = 80) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- items


@dataclass
class GalleryItem:
    """One image shown by the gallery.

    Attributes
    ----------
    image : np.ndarray
        (H, W, 3|4) uint8, full resolution.
    result : ImageResult or None
        The result the image belongs to (None for plain arrays).
    index : int
        Position of the image inside ``result.images``.
    title : str
        Short caption (prompt or file name).
    """

    image: np.ndarray
    result: ImageResult | None = None
    index: int = 0
    title: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    def caption_html(self) -> str:
        """An HTML caption: title, size, model, revised prompt and cost when known."""
        width, height = self.size
        parts = [f"<b>{html.escape(_short(self.title, 120))}</b>", f"{width}×{height}"]
        result = self.result
        if result is not None:
            parts.append(html.escape(result.model))
            revised = result.revised_prompts[self.index : self.index + 1]
            if revised and revised[0]:
                parts.append("revised: " + html.escape(_short(revised[0], 120)))
            if result.cost_usd is not None:
                parts.append(f"${result.cost_usd:.3f}")
        return " · ".join(p for p in parts if p)


def _items_from(source: Any, title: str | None) -> list[GalleryItem]:
    """Gallery items for an ImageResult, or for any image input ``imaging.to_arrays`` accepts."""
    if isinstance(source, ImageResult):
        prompt = str(source.request.get("prompt", "") or "")
        caption = title if title is not None else prompt
        return [
            GalleryItem(image=to_array(img), result=source, index=i, title=caption)
            for i, img in enumerate(source.images)
        ]
    caption = title if title is not None else ""
    return [GalleryItem(image=arr, title=caption) for arr in to_arrays(source)]


def _entry_id(entry: Any) -> str:
    """The id of a history entry (``HistoryEntry.entry_id``; plain ids pass through)."""
    if isinstance(entry, str):
        return entry
    for name in ("entry_id", "id"):
        value = getattr(entry, name, None)
        if value:
            return str(value)
    raise ValidationError(
        f"history entry {entry!r} has no entry_id; pass entries from HistoryStore.search()",
        param="entry",
        value=entry,
    )


# --------------------------------------------------------------------------- widget


class Gallery(widgets.VBox):
    """Thumbnails of images with a larger preview, Save, Compare and hand-off actions.

    Parameters
    ----------
    results : iterable, optional
        ImageResults (or image inputs) to show at once.
    thumb_edge : int
        Longest edge of the thumbnails sent to the browser, in pixels.
    preview_edge : int
        Longest edge of the enlarged preview.

    Attributes
    ----------
    selected : int or None
        Index (into :attr:`items`) of the image shown enlarged. Observable trait.
    compare_selection : list of int
        Up to two indices ticked for Compare, oldest first. Observable trait.
    """

    selected = traitlets.Int(None, allow_none=True)
    compare_selection = traitlets.List(traitlets.Int())

    def __init__(
        self,
        results: Iterable[Any] = (),
        *,
        thumb_edge: int = THUMB_EDGE,
        preview_edge: int = PREVIEW_EDGE,
        **kwargs: Any,
    ) -> None:
        self._items: list[GalleryItem] = []
        self._tiles: list[widgets.VBox] = []
        self._select_buttons: list[widgets.Button] = []
        self._compare_boxes: list[widgets.Checkbox] = []
        self.thumb_edge = int(thumb_edge)
        self.preview_edge = int(preview_edge)
        self._send_to_painter_callbacks = widgets.CallbackDispatcher()
        self._use_as_reference_callbacks = widgets.CallbackDispatcher()
        self._build_controls()
        super().__init__(children=self._layout_children(), **kwargs)
        self.add_class("giw-gallery")
        self.observe(self._on_selected, "selected")
        self.observe(self._on_compare_selection, "compare_selection")
        for result in results:
            self.add(result)

    # ----------------------------------------------------------------- layout

    def _build_controls(self) -> None:
        self._header = widgets.HTML("<i>No images yet.</i>")
        self._thumbs = widgets.Box(layout=widgets.Layout(flex_flow="row wrap"))
        self._preview = widgets.HBox()
        self._caption = widgets.HTML()
        self._edit_button = widgets.Button(
            description="Edit this", icon="paint-brush", tooltip="Load into the mask painter"
        )
        self._reference_button = widgets.Button(
            description="Use as reference",
            icon="plus",
            tooltip="Add to the reference images of the next edit",
        )
        self._save_path = widgets.Text(
            value="gptimage-outputs/saved",
            placeholder="folder or file.png",
            layout=widgets.Layout(width="220px"),
        )
        self._save_button = widgets.Button(description="Save", icon="save")
        self._compare_button = widgets.Button(
            description="Compare", icon="columns", tooltip="Tick 'compare' on two thumbnails"
        )
        self._status = widgets.HTML()
        self._edit_button.on_click(lambda _: self._guarded(self.send_to_painter))
        self._reference_button.on_click(lambda _: self._guarded(self.use_as_reference))
        self._save_button.on_click(lambda _: self._guarded(self._save_clicked))
        self._compare_button.on_click(lambda _: self._guarded(self.compare))
        self._update_action_state()

    def _layout_children(self) -> list[widgets.Widget]:
        actions = widgets.HBox(
            [
                self._edit_button,
                self._reference_button,
                self._save_path,
                self._save_button,
                self._compare_button,
            ]
        )
        return [self._header, self._thumbs, self._preview, self._caption, actions, self._status]

    def _make_tile(self, index: int, item: GalleryItem) -> widgets.VBox:
        data, fmt = display_bytes(item.image, self.thumb_edge, quality=80)
        image = widgets.Image(value=data, format=fmt, layout=widgets.Layout(max_width="100%"))
        width, height = item.size
        button = widgets.Button(
            description=f"#{index} · {width}×{height}",
            tooltip=_short(item.title) or f"image {index}",
            layout=widgets.Layout(width=f"{self.thumb_edge}px"),
        )
        button.on_click(lambda _: setattr(self, "selected", index))
        checkbox = widgets.Checkbox(
            value=False, description="compare", indent=False, layout=widgets.Layout(width="auto")
        )
        checkbox.observe(lambda change: self._on_compare_box(index, change["new"]), "value")
        self._select_buttons.append(button)
        self._compare_boxes.append(checkbox)
        return widgets.VBox(
            [image, button, checkbox],
            layout=widgets.Layout(width=f"{self.thumb_edge + 8}px", margin="2px"),
        )

    # ----------------------------------------------------------------- public API

    @property
    def items(self) -> list[GalleryItem]:
        """The gallery's images in the order they were added (a copy of the list)."""
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, result: Any, *, title: str | None = None, select: bool = True) -> list[int]:
        """Add every image of an ImageResult (or of any image input) to the gallery.

        Parameters
        ----------
        result : ImageResult or image input
            A result, or anything :func:`gptimage_widgets.imaging.to_arrays` accepts
            ((H, W, C) arrays, (B, H, W, C) batches, PIL images, paths, bytes).
        title : str, optional
            Caption; defaults to the result's prompt.
        select : bool
            Show the first added image enlarged.

        Returns
        -------
        list of int
            The indices of the added images in :attr:`items`.
        """
        new_items = _items_from(result, title)
        start = len(self._items)
        tiles = [self._make_tile(start + k, item) for k, item in enumerate(new_items)]
        self._items.extend(new_items)
        self._tiles.extend(tiles)
        self._thumbs.children = tuple(self._tiles)
        self._header.value = f"<b>{len(self._items)} image(s)</b>"
        indices = list(range(start, len(self._items)))
        if select and indices:
            self.selected = indices[0]
        self._update_action_state()
        return indices

    def clear(self) -> None:
        """Remove every image."""
        self._items.clear()
        self._tiles.clear()
        self._select_buttons.clear()
        self._compare_boxes.clear()
        self._thumbs.children = ()
        self.compare_selection = []
        self.selected = None
        self._header.value = "<i>No images yet.</i>"
        self._update_action_state()

    @classmethod
    def from_history(
        cls,
        store: Any,
        text: str | None = None,
        *,
        model: str | None = None,
        limit: int = 50,
        **kwargs: Any,
    ) -> Gallery:
        """A gallery of the entries of a history store, newest first.

        Parameters
        ----------
        store : HistoryStore
            The store to read (``store.search`` then ``store.load`` for each entry).
        text, model : str, optional
            Passed to ``store.search`` to filter the entries.
        limit : int
            Maximum number of entries loaded.
        **kwargs
            Passed to :class:`Gallery`.
        """
        gallery = cls(**kwargs)
        gallery.add_history(store, text, model=model, limit=limit)
        return gallery

    def add_history(
        self, store: Any, text: str | None = None, *, model: str | None = None, limit: int = 50
    ) -> list[int]:
        """Add the entries of a history store (see :meth:`from_history`); returns new indices."""
        added: list[int] = []
        for entry in store.search(text, model=model, limit=limit):
            added += self.add(store.load(_entry_id(entry)), select=not added)
        return added

    @property
    def selected_item(self) -> GalleryItem | None:
        """The selected :class:`GalleryItem`, or None."""
        if self.selected is None:
            return None
        return self._items[self.selected]

    @property
    def selected_image(self) -> np.ndarray | None:
        """The selected image at full resolution, (H, W, 3|4) uint8, or None."""
        item = self.selected_item
        return None if item is None else item.image

    def on_send_to_painter(self, callback: ImageCallback, remove: bool = False) -> None:
        """Register ``callback(image)`` for "Edit this" (image: (H, W, C) uint8)."""
        self._send_to_painter_callbacks.register_callback(callback, remove=remove)

    def on_use_as_reference(self, callback: ImageCallback, remove: bool = False) -> None:
        """Register ``callback(image)`` for "Use as reference" (image: (H, W, C) uint8)."""
        self._use_as_reference_callbacks.register_callback(callback, remove=remove)

    def send_to_painter(self, index: int | None = None) -> np.ndarray:
        """Hand an image (default: the selected one) to the "Edit this" callbacks."""
        image = self._item(index).image
        self._send_to_painter_callbacks(image)
        self._set_status("Sent to the mask painter.")
        return image

    def use_as_reference(self, index: int | None = None) -> np.ndarray:
        """Hand an image (default: the selected one) to the "Use as reference" callbacks."""
        image = self._item(index).image
        self._use_as_reference_callbacks(image)
        self._set_status("Added to the reference images.")
        return image

    def save(
        self, path: str | pathlib.Path | None = None, index: int | None = None
    ) -> list[pathlib.Path]:
        """Save one image (default: the selected one) through its result's ``save``.

        Parameters
        ----------
        path : str or Path, optional
            A folder, or a file name with an image suffix. Defaults to the path box.
        index : int, optional
            Which image; defaults to :attr:`selected`.

        Returns
        -------
        list of Path
            The files written.
        """
        item = self._item(index)
        target = pathlib.Path(path if path is not None else self._save_path.value).expanduser()
        paths = _save_item(item, target)
        self._set_status("Saved " + ", ".join(html.escape(str(p)) for p in paths))
        return paths

    def compare(self, first: int | None = None, second: int | None = None) -> tuple[int, int]:
        """Show two images side by side (default: the two ticked 'compare').

        Returns
        -------
        (int, int)
            The indices compared.
        """
        if first is None or second is None:
            if len(self.compare_selection) != 2:
                raise ValidationError(
                    f"Compare needs two images, {len(self.compare_selection)} ticked; "
                    "tick 'compare' under two thumbnails (or call compare(i, j))",
                    param="compare_selection",
                    value=list(self.compare_selection),
                )
            first, second = self.compare_selection
        pair = (self._item(first), self._item(second))
        self._preview.children = tuple(self._preview_image(it, COMPARE_EDGE) for it in pair)
        self._caption.value = "<br>".join(
            f"#{i}: {it.caption_html()}" for i, it in zip((first, second), pair, strict=True)
        )
        return first, second

    # ----------------------------------------------------------------- internals

    @traitlets.validate("selected")
    def _validate_selected(self, proposal: dict[str, Any]) -> int | None:
        index = proposal["value"]
        if index is None:
            return None
        if not -len(self._items) <= index < len(self._items):
            raise ValidationError(
                f"selected={index} is out of range; the gallery holds {len(self._items)} image(s)",
                param="selected",
                value=index,
            )
        return int(index) % len(self._items)

    def _item(self, index: int | None) -> GalleryItem:
        if index is None:
            index = self.selected
        if index is None:
            raise ValidationError(
                "no image is selected; click a thumbnail's button first (or pass index=)",
                param="index",
                value=None,
            )
        if not -len(self._items) <= index < len(self._items):
            raise ValidationError(
                f"index {index} is out of range; the gallery holds {len(self._items)} image(s)",
                param="index",
                value=index,
            )
        return self._items[index]

    def _preview_image(self, item: GalleryItem, max_edge: int) -> widgets.Image:
        data, fmt = display_bytes(item.image, max_edge, quality=90)
        return widgets.Image(value=data, format=fmt, layout=widgets.Layout(max_width="100%"))

    def _on_selected(self, change: dict[str, Any]) -> None:
        index = change["new"]
        for i, button in enumerate(self._select_buttons):
            button.button_style = "info" if i == index else ""
        if index is None:
            self._preview.children = ()
            self._caption.value = ""
        else:
            item = self._item(index)
            self._preview.children = (self._preview_image(item, self.preview_edge),)
            self._caption.value = item.caption_html()
        self._update_action_state()

    def _on_compare_box(self, index: int, ticked: bool) -> None:
        chosen = [i for i in self.compare_selection if i != index]
        if ticked:
            chosen = [*chosen, index][-2:]
        self.compare_selection = chosen

    def _on_compare_selection(self, change: dict[str, Any]) -> None:
        chosen = set(change["new"])
        for i, box in enumerate(self._compare_boxes):
            if box.value != (i in chosen):
                box.value = i in chosen
        self._update_action_state()

    def _update_action_state(self) -> None:
        nothing = self.selected is None
        self._edit_button.disabled = nothing
        self._reference_button.disabled = nothing
        self._save_button.disabled = nothing
        self._compare_button.disabled = len(self.compare_selection) != 2

    def _save_clicked(self) -> None:
        self.save()

    def _guarded(self, action: Callable[[], Any]) -> None:
        """Run a button's action; show a GPTImageError or OSError in the status line."""
        try:
            action()
        except (GPTImageError, OSError) as exc:
            self._set_status(error_html(exc))

    def _set_status(self, message: str) -> None:
        self._status.value = message


def _save_item(item: GalleryItem, target: pathlib.Path) -> list[pathlib.Path]:
    """Write one gallery image to ``target`` (a folder, or a file with an image suffix)."""
    result = item.result
    if isinstance(result, ImageResult):
        if len(result.images) != 1:
            result = dataclasses.replace(
                result,
                images=[item.image],
                revised_prompts=result.revised_prompts[item.index : item.index + 1],
                paths=[],
            )
        return list(result.save(target))
    if target.suffix.lower() not in {".png", ".jpg", ".jpeg", ".webp"}:
        target = target / f"image-{item.index}.png"
    fmt = {".jpg": "jpeg"}.get(target.suffix.lower(), target.suffix.lower().lstrip("."))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(encode_image(item.image, fmt))
    return [target]
