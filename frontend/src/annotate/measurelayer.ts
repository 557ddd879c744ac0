// The length tool on one viewport (issue 12 item 4): drag to draw a line, click a line to select
// it (Delete removes it). Lines live in the viewer's overlay SVG and are stored as ORIGINAL image
// pixel endpoints (the same space as boxes), so zoom, pan and mirroring never change them. The
// layer holds no read state: it asks for the lines and reports new ones; the mm come from
// measure.ts (and, once saved, from the server).

import type { Viewport } from "../viewer";
import type { Point } from "./boxgeom";
import { clampPoint, distanceToSegment } from "./measure";
import { OverlayLayer, svg } from "./overlaylayer";

export interface LayerLine {
  key: string;
  a: Point;
  b: Point;
  /** "meas-own", "meas-a", "meas-b". */
  cls: string;
  label: string;
  editable: boolean;
}

export interface MeasureLayerOptions {
  columns: number;
  rows: number;
  lines: () => LayerLine[];
  selected: () => string | null;
  active: () => boolean;
  readOnly: () => boolean;
  /** The label of a line while it is being drawn. */
  preview: (a: Point, b: Point) => string;
  onSelect: (key: string | null) => void;
  onCreate: (a: Point, b: Point) => void;
}

const HIT_PX = 5;
const MIN_LINE_PX = 4;

interface LineDrag {
  start: Point;
  current: Point;
  pointerId: number;
}

export class MeasureLayer extends OverlayLayer<LineDrag> {
  constructor(
    vp: Viewport,
    private readonly opts: MeasureLayerOptions,
  ) {
    super(vp, "annotation-measurements");
    this.render();
  }

  private imagePoint(e: PointerEvent): Point {
    return clampPoint(this.vp.screenToImage(this.screenPoint(e)), this.opts.columns, this.opts.rows);
  }

  private hit(s: Point): LayerLine | null {
    for (const line of [...this.opts.lines()].reverse()) {
      if (distanceToSegment(s, this.vp.imageToScreen(line.a), this.vp.imageToScreen(line.b)) <= HIT_PX) return line;
    }
    return null;
  }

  protected pointerDown(e: PointerEvent): void {
    if (e.button !== 0 || !this.vp.image) return;
    if (this.opts.active() && !this.opts.readOnly()) {
      const p = this.imagePoint(e);
      this.startDrag(e, { start: p, current: p, pointerId: e.pointerId });
      return;
    }
    // The box layer (registered first) claims presses on boxes with preventDefault: leave those.
    if (e.defaultPrevented) return;
    const line = this.hit(this.screenPoint(e));
    if (line) {
      this.opts.onSelect(line.key);
      this.consume(e);
    }
  }

  protected dragMove(d: LineDrag, e: PointerEvent): void {
    d.current = this.imagePoint(e);
    this.render();
  }

  protected dragEnd(d: LineDrag, e: PointerEvent): void {
    const end = this.imagePoint(e);
    const a = this.vp.imageToScreen(d.start);
    const b = this.vp.imageToScreen(end);
    this.render();
    if (Math.hypot(b.x - a.x, b.y - a.y) >= MIN_LINE_PX) this.opts.onCreate(d.start, end);
  }

  private drawLine(a: Point, b: Point, cls: string, label: string, key: string | null): void {
    const g = this.group;
    const sa = this.vp.imageToScreen(a);
    const sb = this.vp.imageToScreen(b);
    const attrs = { x1: sa.x, y1: sa.y, x2: sb.x, y2: sb.y };
    g.append(svg("line", { ...attrs, class: `measure ${cls}`, ...(key ? { "data-key": key } : {}) }));
    for (const p of [sa, sb]) g.append(svg("circle", { cx: p.x, cy: p.y, r: 2.5, class: `measure-end ${cls}` }));
    // The label beside the line's end that is furthest right, kept inside the viewport.
    const end = sa.x > sb.x ? sa : sb;
    const text = svg("text", { x: end.x + 6, y: end.y - 6, class: `measure-label ${cls}`, ...(key ? { "data-key": key } : {}) });
    text.textContent = label;
    g.append(text);
    const w = text.getComputedTextLength() + 3;
    const width = this.vp.root.clientWidth;
    const height = this.vp.root.clientHeight;
    const x = end.x + 6 + w > width ? Math.max(2, end.x - 6 - w) : end.x + 6;
    const y = Math.min(height - 4, Math.max(14, end.y - 6));
    text.setAttribute("x", String(x));
    text.setAttribute("y", String(y));
  }

  render(): void {
    this.clear();
    if (!this.vp.image) return;
    const selected = this.opts.selected();
    for (const line of this.opts.lines()) {
      this.drawLine(line.a, line.b, `${line.cls}${line.key === selected ? " selected" : ""}`, line.label, line.key);
    }
    const d = this.drag;
    if (d) this.drawLine(d.start, d.current, "meas-drawing", this.opts.preview(d.start, d.current), null);
  }
}
