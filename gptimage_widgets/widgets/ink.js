// Local ink for MaskPainter (anywidget front end; no build step).
//
// A <canvas> stacked over the painter's ipycanvas MultiCanvas (same GridBox cell). It takes the
// pointer events (mouse, pen, touch), draws the strokes at once in display pixels, and sends the
// points to Python in batches ({kind: "points", session, id, tool, size, points, pressure,
// final, view}). Python commits them to the MaskDocument, paints its overlay and answers
// {kind: "ack", session, id}: the strokes up to that id are dropped here.
//
// Pending strokes are shown exactly as Python will show them: inside the area they touch, this
// layer draws the image layer and the overlay layer of the ipycanvas models with the pending
// operations applied (erase, then paint, as the painter does), so there is no double opacity
// and the eraser shows the image. Without those layers it falls back to plain ink.
//
// Each stroke remembers the view it was drawn in (the model's view_id) and sends it with its
// points, so Python maps them through that view. Pending ink of an older view (Python code
// zoomed while the kernel was busy) is not drawn: it would show at the wrong place; Python
// paints it at the right one when it gets there (the "pending" note still counts it).

const MIN_MOVE = 0.75; // display px: shorter moves add no point (as the painter)
const NOTE_DELAY_MS = 300; // strokes waiting longer than this show the "pending" note
const PRESSURE_LEVELS = 8; // _ink_layer.PRESSURE_LEVELS
const KEYS_THROUGH = new Set(["Tab", "Escape", "Enter"]);

function rgb(color) {
  let text = String(color || "").trim().replace(/^#/, "");
  if (text.length === 3) text = [...text].map((c) => c + c).join("");
  const value = parseInt(text, 16);
  if (text.length !== 6 || Number.isNaN(value)) return [255, 59, 48];
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

// The painter's shortcuts come from Python (_painter_input.py, one home): tool_keys maps a key
// to a tool name, zoom_keys lists the zoom keys.
function toolForKey(model, key) {
  const keys = model.get("tool_keys") || {};
  const lowered = key.toLowerCase();
  return Object.hasOwn(keys, lowered) ? keys[lowered] : null;
}

const isZoomKey = (model, key) => (model.get("zoom_keys") || []).includes(key);

function handledKey(model, e) {
  const command = e.ctrlKey || e.metaKey;
  const lowered = e.key.toLowerCase();
  if (command) return lowered === "z" || lowered === "y";
  const other = e.key === "[" || e.key === "]" || isZoomKey(model, e.key);
  return other || toolForKey(model, e.key) !== null;
}

function render({ model, el }) {
  const session = Math.random().toString(36).slice(2, 10);
  el.classList.add("giw-ink");
  el.style.cssText =
    "position:relative;width:100%;height:100%;touch-action:none;outline:none;user-select:none;";
  const canvas = document.createElement("canvas");
  // The widget's box is hidden by Python (so that a front end that failed to load blocks no
  // events); this canvas shows itself.
  canvas.style.cssText =
    "position:absolute;left:0;top:0;width:100%;height:100%;touch-action:none;cursor:crosshair;" +
    "visibility:visible;outline:none;";
  canvas.tabIndex = 0; // takes the keys (shortcuts); the hidden box cannot be focused
  canvas.setAttribute("data-lm-suppress-shortcuts", "true");
  const note = document.createElement("div");
  note.className = "giw-ink-note";
  note.style.cssText =
    "position:absolute;left:6px;top:6px;padding:2px 8px;border-radius:4px;font:12px sans-serif;" +
    "background:rgba(0,0,0,0.65);color:#fff;pointer-events:none;display:none;visibility:visible;";
  el.append(canvas, note);
  const ctx = canvas.getContext("2d");
  const scratch = document.createElement("canvas");
  const sctx = scratch.getContext("2d");

  const pending = []; // strokes not yet confirmed by Python, oldest first
  let current = null; // the stroke under the pointer
  let hover = null; // [x, y] of the pointer, for the brush cursor
  let lastEnd = null; // last point of the last brush/eraser stroke (shift-click)
  let nextId = 1;
  let pan = null; // {pointerId, x, y, dx, dy}
  let spaceDown = false;
  let flushTimer = null;
  let flushFrame = null;
  let noteTimer = null;
  const layers = { image: null, overlay: null };
  let overlayModel = null;
  const layerModels = [];

  const toolName = () => String((model.get("tool_names") || [])[model.get("tool_index")] || "brush");
  const scale = () => Number(model.get("view_scale")) || 1;
  // the pending strokes drawn in the view shown (and the stroke under the pointer)
  const shown = () => pending.filter((s) => s === current || s.view === model.get("view_id"));
  const colour = (alpha) => `rgba(${rgb(model.get("color")).join(", ")}, ${alpha})`;

  function resize() {
    const [w, h] = [model.get("width") || 1, model.get("height") || 1];
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = scratch.width = w;
      canvas.height = scratch.height = h;
    }
    draw();
  }

  async function findLayers() {
    const manager = model.widget_manager;
    for (const layer of layerModels.splice(0)) layer.off("new-frame", onOverlayFrame);
    overlayModel = null;
    for (const name of ["image", "overlay"]) {
      layers[name] = null;
      const id = model.get(`_${name}_layer`);
      if (!id || !manager) continue;
      try {
        const layer = await manager.get_model(id);
        if (layer && layer.canvas instanceof HTMLCanvasElement) layers[name] = layer.canvas;
        if (layer && layer.on && name === "overlay") {
          layer.on("new-frame", onOverlayFrame);
          layerModels.push(layer);
          overlayModel = layer;
        }
      } catch (error) {
        layers[name] = null;
      }
    }
    draw();
  }

  // ---------------------------------------------------------------- geometry

  function position(e) {
    const box = canvas.getBoundingClientRect();
    return [
      ((e.clientX - box.left) * canvas.width) / (box.width || 1),
      ((e.clientY - box.top) * canvas.height) / (box.height || 1),
    ];
  }

  function widthAt(stroke, index) {
    const base = Math.max(1, stroke.size * scale());
    if (!stroke.pressure) return base;
    // rounded to PRESSURE_LEVELS levels, as Python commits it (one Stroke per level run)
    const level = Math.max(1, Math.round(stroke.pressure[index] * PRESSURE_LEVELS));
    return Math.max(1, (base * level) / PRESSURE_LEVELS);
  }

  // Draw the stroke's area on c with its current style (fill for shapes, lines for brushes);
  // ``only`` = i draws just segment i of a brush stroke.
  function paintArea(c, stroke, only = null) {
    const p = stroke.points;
    if (stroke.tool === "rect") {
      if (p.length < 2) return;
      const [[x0, y0], [x1, y1]] = [p[0], p[p.length - 1]];
      c.fillRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      return;
    }
    if (stroke.tool === "lasso") {
      if (!stroke.done || p.length < 3) return;
      c.beginPath();
      c.moveTo(...p[0]);
      for (const q of p.slice(1)) c.lineTo(...q);
      c.closePath();
      c.fill();
      return;
    }
    c.lineCap = "round";
    c.lineJoin = "round";
    if (p.length === 1) {
      c.beginPath();
      c.arc(p[0][0], p[0][1], widthAt(stroke, 0) / 2, 0, 2 * Math.PI);
      c.fill();
      return;
    }
    const segments = only !== null ? [only] : stroke.pressure ? p.map((_, i) => i).slice(1) : [];
    for (const i of segments) {
      c.lineWidth = widthAt(stroke, i);
      c.beginPath();
      c.moveTo(...p[i - 1]);
      c.lineTo(...p[i]);
      c.stroke();
    }
    if (segments.length) return;
    c.lineWidth = widthAt(stroke, 0);
    c.beginPath();
    c.moveTo(...p[0]);
    for (const q of p.slice(1)) c.lineTo(...q);
    c.stroke();
  }

  function fillArea(c, stroke, style, only = null) {
    c.fillStyle = style;
    c.strokeStyle = style;
    paintArea(c, stroke, only);
  }

  // Apply one op as the painter paints its overlay: erase its area, then paint it with
  // ``style`` (none: erase only). Pressure strokes go segment by segment, as Python does, so
  // overlapping segments keep one uniform alpha.
  function applyOp(c, stroke, style) {
    const brush = stroke.tool === "brush" || stroke.tool === "eraser";
    const perSegment = brush && stroke.pressure && stroke.points.length > 1;
    const parts = perSegment ? stroke.points.map((_, i) => i).slice(1) : [null];
    for (const part of parts) {
      c.globalCompositeOperation = "destination-out";
      fillArea(c, stroke, "#000", part);
      if (style) {
        c.globalCompositeOperation = "source-over";
        fillArea(c, stroke, style, part);
      }
    }
    c.globalCompositeOperation = "source-over";
  }

  // ---------------------------------------------------------------- drawing

  // Redraw the box {x, y, w, h} (display px; null = everything). Pointer moves redraw only
  // the few pixels they change, so ink costs the page about what a plain canvas costs.
  function draw(box = null) {
    const full = { x: 0, y: 0, w: canvas.width, h: canvas.height };
    const b = box ? clampBox(box) : full;
    if (b.w <= 0 || b.h <= 0) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalCompositeOperation = "source-over";
    ctx.globalAlpha = 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(b.x, b.y, b.w, b.h);
    ctx.clip();
    ctx.clearRect(b.x, b.y, b.w, b.h);
    if (shown().length) {
      if (layers.image && layers.overlay) drawExact(b);
      else drawPlain(b);
    }
    drawGuides();
    ctx.restore();
    updateNote();
  }

  function clampBox(box) {
    const x0 = Math.max(0, Math.floor(box.x));
    const y0 = Math.max(0, Math.floor(box.y));
    const x1 = Math.min(canvas.width, Math.ceil(box.x + box.w));
    const y1 = Math.min(canvas.height, Math.ceil(box.y + box.h));
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }

  function union(a, b) {
    if (!a) return b;
    if (!b) return a;
    const x = Math.min(a.x, b.x);
    const y = Math.min(a.y, b.y);
    const w = Math.max(a.x + a.w, b.x + b.w) - x;
    return { x, y, w, h: Math.max(a.y + a.h, b.y + b.h) - y };
  }

  function pointsBox(points, pad) {
    if (!points.length) return null;
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const [x, y] = [Math.min(...xs) - pad, Math.min(...ys) - pad];
    return { x, y, w: Math.max(...xs) + pad - x, h: Math.max(...ys) + pad - y };
  }

  // What the guides (brush cursor, rectangle and lasso outlines) cover now.
  function guidesBox() {
    let box = null;
    if (current && (current.tool === "rect" || current.tool === "lasso")) {
      box = pointsBox(current.points, 3);
    }
    const tool = toolName();
    if (hover && (tool === "brush" || tool === "eraser")) {
      const radius = Math.max(1, (model.get("brush_size") * scale()) / 2);
      box = union(box, pointsBox([hover], radius + 3));
    }
    return box;
  }

  // The scratch canvas cleared and clipped to box b (the caller restores it).
  function clearScratch(b) {
    sctx.save();
    sctx.beginPath();
    sctx.rect(b.x, b.y, b.w, b.h);
    sctx.clip();
    sctx.globalCompositeOperation = "source-over";
    sctx.clearRect(b.x, b.y, b.w, b.h);
  }

  // Inside the pending strokes' area: the image, then the overlay with the pending ops applied.
  function drawExact(b) {
    const opacity = Number(model.get("opacity"));
    clearScratch(b);
    sctx.drawImage(layers.overlay, b.x, b.y, b.w, b.h, b.x, b.y, b.w, b.h);
    for (const stroke of shown()) {
      applyOp(sctx, stroke, stroke.tool === "eraser" ? null : colour(opacity));
    }
    sctx.restore();
    for (const stroke of shown()) fillArea(ctx, stroke, "#000");
    ctx.globalCompositeOperation = "source-in";
    ctx.drawImage(layers.image, b.x, b.y, b.w, b.h, b.x, b.y, b.w, b.h);
    ctx.globalCompositeOperation = "source-atop";
    ctx.drawImage(scratch, b.x, b.y, b.w, b.h, b.x, b.y, b.w, b.h);
    ctx.globalCompositeOperation = "source-over";
  }

  // Without the ipycanvas layers: the pending ink at the mask's opacity (eraser in white).
  function drawPlain(b) {
    clearScratch(b);
    for (const stroke of shown()) {
      applyOp(sctx, stroke, stroke.tool === "eraser" ? "#fff" : colour(1));
    }
    sctx.restore();
    ctx.globalAlpha = Number(model.get("opacity"));
    ctx.drawImage(scratch, b.x, b.y, b.w, b.h, b.x, b.y, b.w, b.h);
    ctx.globalAlpha = 1;
  }

  function drawGuides() {
    ctx.lineWidth = 1;
    if (current && current.tool === "rect" && current.points.length > 1) {
      const [[x0, y0], [x1, y1]] = [current.points[0], current.points[current.points.length - 1]];
      ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
      ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    }
    if (current && current.tool === "lasso" && current.points.length > 1) {
      ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
      ctx.beginPath();
      ctx.moveTo(...current.points[0]);
      for (const q of current.points.slice(1)) ctx.lineTo(...q);
      ctx.stroke();
    }
    const tool = toolName();
    if (hover && !pan && (tool === "brush" || tool === "eraser")) {
      const radius = Math.max(1, (model.get("brush_size") * scale()) / 2);
      ctx.beginPath();
      ctx.strokeStyle = "rgba(0, 0, 0, 0.8)";
      ctx.arc(hover[0], hover[1], radius + 1, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.beginPath();
      ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
      ctx.arc(hover[0], hover[1], radius, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  function updateNote() {
    const waiting = pending.filter((s) => s.done);
    const now = performance.now();
    const old = waiting.filter((s) => now - s.doneAt >= NOTE_DELAY_MS);
    if (old.length) {
      const n = waiting.length;
      note.textContent = `${n} stroke${n === 1 ? "" : "s"} pending (the kernel is busy)`;
      note.style.display = "block";
    } else {
      note.style.display = "none";
    }
    if (waiting.length > old.length && noteTimer === null) {
      noteTimer = setTimeout(() => {
        noteTimer = null;
        updateNote();
      }, NOTE_DELAY_MS);
    }
  }

  // ---------------------------------------------------------------- messages to Python

  function flush() {
    if (flushTimer !== null) clearTimeout(flushTimer);
    if (flushFrame !== null) cancelAnimationFrame(flushFrame);
    flushTimer = flushFrame = null;
    for (const stroke of pending) {
      if (stroke.final) continue;
      if (stroke.tool === "rect" && !stroke.done) continue; // only its two corners count
      const start = stroke.tool === "rect" ? 0 : stroke.sent;
      const points = stroke.points.slice(start);
      if (!points.length && !stroke.done) continue;
      model.send({
        kind: "points",
        session,
        id: stroke.id,
        tool: stroke.tool,
        size: stroke.size,
        points: points.flat(),
        pressure: stroke.pressure ? stroke.pressure.slice(start) : null,
        final: stroke.done,
        view: model.get("view_id"), // the view these points were drawn in
      });
      stroke.sent = stroke.points.length;
      stroke.final = stroke.done;
    }
    if (pan && (pan.dx || pan.dy)) {
      model.send({ kind: "pan", dx: pan.dx, dy: pan.dy });
      pan.dx = pan.dy = 0;
    }
  }

  function scheduleFlush() {
    const ms = Number(model.get("batch_ms"));
    if (ms <= 0) {
      if (flushFrame === null) flushFrame = requestAnimationFrame(flush);
    } else if (flushTimer === null) {
      flushTimer = setTimeout(flush, ms);
    }
  }

  // Python sends its overlay commands before the ack, but ipycanvas may still be working on
  // them (its commands run on a promise chain, e.g. behind an image being decoded): drop the
  // confirmed ink only once they are drawn, so the stroke never blinks.
  async function canvasCommandsDone() {
    const manager = overlayModel && overlayModel.get ? overlayModel.get("_canvas_manager") : null;
    if (manager && manager.currentProcessing) {
      try {
        await manager.currentProcessing;
      } catch (error) {
        // a failed command: the ack still stands
      }
    }
  }

  function onMessage(msg) {
    if (!msg || msg.session !== session) return;
    if (msg.kind === "ack") {
      canvasCommandsDone().then(() => {
        for (let i = pending.length - 1; i >= 0; i--) {
          if (pending[i].done && pending[i].id <= msg.id) pending.splice(i, 1);
        }
        draw();
      });
    }
  }

  // ---------------------------------------------------------------- pointer and keys

  function addPoint(stroke, point, e) {
    const p = stroke.points;
    if (stroke.tool === "rect") {
      p.splice(1, p.length - 1, point);
      return;
    }
    const last = p[p.length - 1];
    if (Math.hypot(point[0] - last[0], point[1] - last[1]) < MIN_MOVE) return;
    p.push(point);
    if (stroke.pressure) stroke.pressure.push(pressureOf(e));
  }

  function pressureOf(e) {
    return e.pointerType === "pen" ? Math.max(0.05, Math.min(1, e.pressure || 0)) : 1;
  }

  function onPointerDown(e) {
    canvas.focus({ preventScroll: true });
    if (e.button === 1 || (spaceDown && e.button === 0)) {
      e.preventDefault();
      canvas.setPointerCapture(e.pointerId);
      pan = { pointerId: e.pointerId, x: e.clientX, y: e.clientY, dx: 0, dy: 0 };
      draw();
      return;
    }
    if (e.button !== 0 || current) return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    const point = position(e);
    const tool = toolName();
    const usePressure = Boolean(model.get("pen_pressure")) && e.pointerType === "pen";
    const stroke = {
      id: nextId++,
      tool,
      size: Number(model.get("brush_size")),
      points: [],
      pressure: usePressure ? [] : null,
      pointerId: e.pointerId,
      view: model.get("view_id"),
      sent: 0,
      done: false,
      final: false,
      doneAt: 0,
    };
    if (e.shiftKey && lastEnd && (tool === "brush" || tool === "eraser")) {
      stroke.points.push(lastEnd);
      if (stroke.pressure) stroke.pressure.push(pressureOf(e));
    }
    stroke.points.push(point);
    if (stroke.pressure) stroke.pressure.push(pressureOf(e));
    if (tool === "rect") stroke.points.push(point);
    pending.push(stroke);
    current = stroke;
    hover = point;
    draw();
    scheduleFlush();
  }

  function onPointerMove(e) {
    if (pan && e.pointerId === pan.pointerId) {
      const box = canvas.getBoundingClientRect();
      const ratio = canvas.width / (box.width || 1);
      pan.dx += (e.clientX - pan.x) * ratio;
      pan.dy += (e.clientY - pan.y) * ratio;
      pan.x = e.clientX;
      pan.y = e.clientY;
      scheduleFlush();
      return;
    }
    let box = guidesBox();
    hover = position(e);
    if (current && e.pointerId === current.pointerId) {
      const from = Math.max(0, current.points.length - 1);
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      for (const ev of events.length ? events : [e]) addPoint(current, position(ev), ev);
      if (current.tool === "brush" || current.tool === "eraser") {
        const added = current.points.slice(from);
        const widest = Math.max(...added.map((_, i) => widthAt(current, from + i)));
        box = union(box, pointsBox(added, widest / 2 + 2));
      }
      scheduleFlush();
    }
    draw(union(box, guidesBox()));
  }

  function onPointerUp(e) {
    if (pan && e.pointerId === pan.pointerId) {
      flush();
      pan = null;
      return;
    }
    if (!current || e.pointerId !== current.pointerId) return;
    if (e.type !== "pointercancel") addPoint(current, position(e), e);
    current.done = true;
    current.doneAt = performance.now();
    if (current.tool === "brush" || current.tool === "eraser") {
      lastEnd = current.points[current.points.length - 1];
    }
    current = null;
    flush();
    draw();
  }

  function onPointerLeave() {
    const box = guidesBox();
    hover = null;
    draw(box);
  }

  // The ipycanvas overlay changed (Python painted, undid...): redraw once per frame at most,
  // and not during a stroke (its own moves redraw what they touch; pointerup redraws all).
  let redrawFrame = null;
  function onOverlayFrame() {
    if (!pending.length || current || redrawFrame !== null) return;
    redrawFrame = requestAnimationFrame(() => {
      redrawFrame = null;
      draw();
    });
  }

  // The wheel zooms the painter, so it must not scroll the page as well: the page would move
  // the canvas away from under the pointer (the next press lands on whatever scrolled there).
  // No zoom during a stroke: its points so far were drawn in the current view.
  function onWheel(e) {
    e.preventDefault();
    if (current) return;
    const [x, y] = position(e);
    model.send({ kind: "wheel", x, y, deltaY: e.deltaY, ctrlKey: e.ctrlKey });
  }

  function onKeyDown(e) {
    if (KEYS_THROUGH.has(e.key)) return;
    e.stopPropagation();
    if (e.key === " ") {
      spaceDown = true;
      e.preventDefault();
      return;
    }
    if (!handledKey(model, e)) return;
    e.preventDefault();
    const command = e.ctrlKey || e.metaKey;
    if (current && !command && isZoomKey(model, e.key)) return; // no zoom during a stroke
    const tool = toolForKey(model, e.key);
    const index = tool === null ? -1 : (model.get("tool_names") || []).indexOf(tool);
    if (!command && index >= 0) {
      model.set("tool_index", index); // the next stroke uses it even while Python is busy
      draw();
    }
    flush(); // a finished stroke goes first: undo must see it
    const [x, y] = hover || [null, null]; // +/- zoom about the pointer
    const mods = { shift: e.shiftKey, ctrl: e.ctrlKey, meta: e.metaKey };
    model.send({ kind: "key", key: e.key, ...mods, x, y });
  }

  function onKeyUp(e) {
    if (e.key === " ") spaceDown = false;
  }

  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", onPointerUp);
  canvas.addEventListener("pointerleave", onPointerLeave);
  canvas.addEventListener("wheel", onWheel, { passive: false });
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  // the middle button pans: no autoscroll, no paste
  canvas.addEventListener("mousedown", (e) => e.button === 1 && e.preventDefault());
  canvas.addEventListener("auxclick", (e) => e.button === 1 && e.preventDefault());
  el.addEventListener("keydown", onKeyDown);
  el.addEventListener("keyup", onKeyUp);
  // Space held anywhere (focus may be on a cell or the canvas below) makes the next drag a pan,
  // as in image editors; it is only taken from the page while the pointer is over the layer.
  const editable = (t) => t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  const onWindowKeyDown = (e) => {
    if (e.key !== " " || editable(e.target) || el.contains(e.target)) return;
    spaceDown = true;
    if (hover) e.preventDefault();
  };
  const onWindowKeyUp = (e) => e.key === " " && (spaceDown = false);
  window.addEventListener("keydown", onWindowKeyDown, true);
  window.addEventListener("keyup", onWindowKeyUp, true);
  model.on("msg:custom", onMessage);
  for (const name of ["width", "height"]) model.on(`change:${name}`, resize);
  for (const name of ["tool_index", "brush_size", "view_scale", "view_id", "color", "opacity"]) {
    model.on(`change:${name}`, () => draw());
  }
  for (const name of ["_image_layer", "_overlay_layer"]) model.on(`change:${name}`, findLayers);
  resize();
  findLayers();
  model.send({ kind: "ready", session });

  return () => {
    window.removeEventListener("keydown", onWindowKeyDown, true);
    window.removeEventListener("keyup", onWindowKeyUp, true);
    flush();
    for (const layer of layerModels) layer.off("new-frame", onOverlayFrame);
    if (noteTimer !== null) clearTimeout(noteTimer);
  };
}

export default { render };
