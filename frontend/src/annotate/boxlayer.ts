// Box tools on one viewport: draw, select, move, resize. Drawn in the viewer's overlay SVG and
// converted with the viewer's public geometry (screenToImage / imageToScreen /
// imageBoxToScreenRect), so every stored coordinate is an ORIGINAL IMAGE PIXEL whatever the zoom,
// pan or mirroring. The layer holds no read state: it asks for the boxes and reports edits.

import type { Viewport } from "../viewer";
import {
  type Box,
  type Handle,
  type Point,
  HANDLES,
  boxFromPoints,
  handlePoint,
  moveBox,
  placeLabel,
  resizeBox,
  roundBox,
} from "./boxgeom";
import { OverlayLayer, svg } from "./overlaylayer";

export type Tool = "select" | "pan" | "box" | "measure";

export interface LayerBox {
  key: string;
  box: Box;
  /** CSS class: colour by read ("box-own", "box-a", "box-b") and state. */
  cls: string;
  label: string;
  editable: boolean;
  /** Error text shown as a badge at the box's corner (server rule messages). */
  problem?: string | null;
}

export interface BoxLayerOptions {
  columns: number;
  rows: number;
  boxes: () => LayerBox[];
  selected: () => string | null;
  tool: () => Tool;
  readOnly: () => boolean;
  onSelect: (key: string | null) => void;
  onCreate: (box: Box) => void;
  onChange: (key: string, box: Box) => void;
  onCommit: (key: string) => void;
}

const HANDLE_HIT_PX = 8;
const MIN_BOX_PX = 4;

type Drag =
  | { kind: "draw"; start: Point; current: Point; pointerId: number }
  | { kind: "move"; key: string; start: Point; origin: Box; pointerId: number; moved: boolean }
  | { kind: "resize"; key: string; handle: Handle; origin: Box; pointerId: number };

export class BoxLayer extends OverlayLayer<Drag> {
  // The press is ours on a box, a handle, or anywhere while drawing (OverlayLayer: capture phase).
  constructor(
    vp: Viewport,
    private readonly opts: BoxLayerOptions,
  ) {
    super(vp, "annotation-boxes");
    this.render();
  }

  private imagePoint(e: PointerEvent): Point {
    return this.vp.screenToImage(this.screenPoint(e));
  }

  private hitHandle(s: Point): { key: string; handle: Handle } | null {
    const key = this.opts.selected();
    const target = key ? this.opts.boxes().find((b) => b.key === key && b.editable) : undefined;
    if (!target || this.opts.readOnly()) return null;
    for (const handle of HANDLES) {
      const p = this.vp.imageToScreen(handlePoint(target.box, handle));
      if (Math.abs(p.x - s.x) <= HANDLE_HIT_PX && Math.abs(p.y - s.y) <= HANDLE_HIT_PX) return { key: target.key, handle };
    }
    return null;
  }

  private hitBox(s: Point): LayerBox | null {
    const boxes = this.opts.boxes();
    // Topmost first; the selected box wins so an overlapping one can still be dragged.
    const selected = this.opts.selected();
    const ordered = [...boxes].reverse().sort((a, b) => Number(b.key === selected) - Number(a.key === selected));
    for (const b of ordered) {
      if (!b.editable) continue;
      const r = this.vp.imageBoxToScreenRect(b.box);
      if (s.x >= r.x - 3 && s.x <= r.x + r.width + 3 && s.y >= r.y - 3 && s.y <= r.y + r.height + 3) return b;
    }
    return null;
  }

  protected pointerDown(e: PointerEvent): void {
    if (e.button !== 0 || !this.vp.image) return;
    const tool = this.opts.tool();
    // The length tool draws over boxes too (measuring a mass inside its box): not ours.
    if (tool === "measure") return;
    const s = this.screenPoint(e);
    const handle = tool !== "pan" ? this.hitHandle(s) : null;
    if (handle) {
      const origin = this.opts.boxes().find((b) => b.key === handle.key)!.box;
      this.startDrag(e, { kind: "resize", key: handle.key, handle: handle.handle, origin: { ...origin }, pointerId: e.pointerId });
      return;
    }
    const hit = tool !== "pan" ? this.hitBox(s) : null;
    if (hit) {
      this.opts.onSelect(hit.key);
      if (!this.opts.readOnly()) {
        this.drag = { kind: "move", key: hit.key, start: this.imagePoint(e), origin: { ...hit.box }, pointerId: e.pointerId, moved: false };
      }
      this.claim(e);
      return;
    }
    if (tool === "box" && !this.opts.readOnly()) {
      const p = this.imagePoint(e);
      this.drag = { kind: "draw", start: p, current: p, pointerId: e.pointerId };
      this.opts.onSelect(null);
      this.claim(e);
      return;
    }
    // Empty area with the select or pan tool: deselect and let the viewer window/level or pan.
    if (this.opts.selected() !== null) this.opts.onSelect(null);
  }

  protected dragMove(d: Drag, e: PointerEvent): void {
    const { columns, rows } = this.opts;
    const p = this.imagePoint(e);
    if (d.kind === "draw") {
      d.current = p;
      this.render();
    } else if (d.kind === "move") {
      d.moved = true;
      this.opts.onChange(d.key, roundBox(moveBox(d.origin, p.x - d.start.x, p.y - d.start.y, columns, rows)));
    } else {
      this.opts.onChange(d.key, roundBox(resizeBox(d.origin, d.handle, p, columns, rows)));
    }
  }

  protected dragEnd(d: Drag, e: PointerEvent): void {
    if (d.kind === "draw") {
      const box = roundBox(boxFromPoints(d.start, this.imagePoint(e), this.opts.columns, this.opts.rows));
      const r = this.vp.imageBoxToScreenRect(box);
      this.render();
      if (r.width >= MIN_BOX_PX && r.height >= MIN_BOX_PX) this.opts.onCreate(box);
    } else if (d.kind === "resize" || (d.kind === "move" && d.moved)) {
      this.opts.onCommit(d.key);
    }
  }

  /** Re-place every shape from the current boxes and view (called on redraw and on edits). */
  render(): void {
    const g = this.group;
    this.clear();
    if (!this.vp.image) return;
    const selected = this.opts.selected();
    for (const b of this.opts.boxes()) {
      const r = this.vp.imageBoxToScreenRect(b.box);
      const isSel = b.key === selected;
      const cls = `box ${b.cls}${isSel ? " selected" : ""}${b.problem ? " has-problem" : ""}`;
      const rect = svg("rect", { x: r.x, y: r.y, width: Math.max(1, r.width), height: Math.max(1, r.height), class: cls, "data-key": b.key });
      const title = svg("title", {});
      title.textContent = b.problem ? `${b.label}: ${b.problem}` : b.label;
      rect.append(title);
      g.append(rect);
      // Labels of the reference reads (arbitration) go under their box, the editable read's
      // above it, so an adopted box lying exactly on its source stays readable.
      const below = b.cls === "box-a" ? 14 : b.cls === "box-b" ? 28 : 0;
      const label = svg("text", { x: r.x + 2, y: r.y - 4, class: `box-label ${b.cls}${b.problem ? " has-problem" : ""}` });
      label.textContent = b.problem ? `⚠ ${b.label}` : b.label;
      g.append(label);
      // Measured once in the DOM, then placed so the whole text stays inside the viewport.
      const at = placeLabel(r, { width: label.getComputedTextLength() + 3, height: 12 }, // + the 3 px halo
        { width: this.vp.root.clientWidth, height: this.vp.root.clientHeight }, below);
      label.setAttribute("x", String(at.x));
      label.setAttribute("y", String(at.y));
      if (isSel && b.editable && !this.opts.readOnly()) {
        for (const handle of HANDLES) {
          const p = this.vp.imageToScreen(handlePoint(b.box, handle));
          g.append(svg("rect", { x: p.x - 4, y: p.y - 4, width: 8, height: 8, class: "box-handle", "data-handle": handle }));
        }
      }
    }
    const d = this.drag;
    if (d?.kind === "draw") {
      const r = this.vp.imageBoxToScreenRect(boxFromPoints(d.start, d.current, this.opts.columns, this.opts.rows));
      g.append(svg("rect", { x: r.x, y: r.y, width: r.width, height: r.height, class: "box box-drawing" }));
    }
  }
}
