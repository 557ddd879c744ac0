// Box geometry in ORIGINAL IMAGE PIXELS. Pure functions: no DOM, no viewer. The box tools convert
// pointer positions with the viewer's screenToImage first, so zoom, pan and mirroring never reach
// the stored coordinates.

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

/** Corner/edge handles; names are in IMAGE orientation (w = smaller x), not screen orientation. */
export type Handle = "nw" | "n" | "ne" | "e" | "se" | "s" | "sw" | "w";
export const HANDLES: readonly Handle[] = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** The box spanned by two points, clamped inside a columns x rows image. */
export function boxFromPoints(a: Point, b: Point, columns: number, rows: number): Box {
  return {
    xmin: clamp(Math.min(a.x, b.x), 0, columns),
    ymin: clamp(Math.min(a.y, b.y), 0, rows),
    xmax: clamp(Math.max(a.x, b.x), 0, columns),
    ymax: clamp(Math.max(a.y, b.y), 0, rows),
  };
}

export function boxArea(b: Box): number {
  return Math.max(0, b.xmax - b.xmin) * Math.max(0, b.ymax - b.ymin);
}

/** Translate a box by (dx, dy), keeping it whole inside the image (it slides along the edge). */
export function moveBox(b: Box, dx: number, dy: number, columns: number, rows: number): Box {
  const w = b.xmax - b.xmin;
  const h = b.ymax - b.ymin;
  const xmin = clamp(b.xmin + dx, 0, Math.max(0, columns - w));
  const ymin = clamp(b.ymin + dy, 0, Math.max(0, rows - h));
  return { xmin, ymin, xmax: xmin + w, ymax: ymin + h };
}

/**
 * Drag one handle to an image point. Dragging past the opposite edge flips the box rather than
 * producing a negative size; the result is normalised and clamped inside the image.
 */
export function resizeBox(b: Box, handle: Handle, p: Point, columns: number, rows: number): Box {
  let { xmin, ymin, xmax, ymax } = b;
  if (handle.includes("w")) xmin = p.x;
  if (handle.includes("e")) xmax = p.x;
  if (handle.startsWith("n")) ymin = p.y;
  if (handle.startsWith("s")) ymax = p.y;
  return boxFromPoints({ x: xmin, y: ymin }, { x: xmax, y: ymax }, columns, rows);
}

export function handlePoint(b: Box, handle: Handle): Point {
  const cx = (b.xmin + b.xmax) / 2;
  const cy = (b.ymin + b.ymax) / 2;
  const x = handle.includes("w") ? b.xmin : handle.includes("e") ? b.xmax : cx;
  const y = handle.startsWith("n") ? b.ymin : handle.startsWith("s") ? b.ymax : cy;
  return { x, y };
}

export function containsPoint(b: Box, p: Point): boolean {
  return p.x >= b.xmin && p.x <= b.xmax && p.y >= b.ymin && p.y <= b.ymax;
}

/** Round to 1/10 pixel: stored boxes are floats, but sub-0.1 px jitter from zoom is noise. */
export function roundBox(b: Box): Box {
  const r = (v: number): number => Math.round(v * 10) / 10;
  return { xmin: r(b.xmin), ymin: r(b.ymin), xmax: r(b.xmax), ymax: r(b.ymax) };
}

/** Screen rectangle (CSS px) of a drawn box. */
export interface ScreenRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Where a box's label goes (its text baseline start) so that the whole label stays inside the
 * viewport: preferably just above the box (or `below` px under it, for the reference reads of an
 * arbitration), flipped to the other side when that would leave the viewport, and finally clamped
 * to the viewport edges; x slides left so the label's end is never cut at the right edge.
 */
export function placeLabel(
  box: ScreenRect,
  label: { width: number; height: number },
  viewport: { width: number; height: number },
  below = 0,
): Point {
  const pad = 2;
  const x = clamp(box.x + pad, pad, Math.max(pad, viewport.width - label.width - pad));
  const above = box.y - 4;
  const under = box.y + box.height + (below || label.height + 2);
  let y = below ? under : above;
  if (y - label.height < 0) y = under;
  if (y > viewport.height - pad) y = below && above - label.height >= 0 ? above : box.y + label.height + pad;
  return { x, y: clamp(y, label.height, Math.max(label.height, viewport.height - pad)) };
}
