// Pure geometry of the viewer: image <-> screen coordinates under zoom, pan, horizontal mirroring
// and fit-to-viewport. No DOM here, so every rule is unit-tested (geometry.test.ts).
//
// Conventions (see docs/frontend-viewer.md):
// - image coordinates are continuous pixel coordinates of the ORIGINAL, unmirrored image: pixel
//   (i, j) covers [i, i+1) x [j, j+1); boxes are always stored in these;
// - screen coordinates are CSS pixels from the viewport's top-left corner;
// - mirroring maps x to (width - x) before zoom and pan, so it never changes stored boxes.

export interface Point {
  x: number;
  y: number;
}

export interface Size {
  width: number;
  height: number;
}

/** Axis-aligned box in original image pixels, xmin < xmax and ymin < ymax once normalised. */
export interface Box {
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

/** Rectangle on screen (CSS pixels), width and height >= 0. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * What the user controls. zoom is relative to "whole image fits" (1 = fit) so that the same
 * value means the same thing for images of different sizes; the centre is the original image
 * point shown at the viewport centre.
 */
export interface ViewState {
  zoom: number;
  centerX: number;
  centerY: number;
}

/** Everything needed to map between image and screen for one viewport. */
export interface Transform {
  image: Size;
  viewport: Size;
  flipH: boolean;
  view: ViewState;
}

export type Align = "start" | "center" | "end";

export interface FitAlign {
  x: Align;
  y: Align;
}

export interface WindowLevel {
  center: number;
  width: number;
}

export const MIN_ZOOM = 0.1;
export const MAX_ZOOM = 64;

/** Screen pixels per image pixel at zoom 1: the largest scale at which the whole image fits. */
export function fitScale(image: Size, viewport: Size): number {
  if (image.width <= 0 || image.height <= 0 || viewport.width <= 0 || viewport.height <= 0) {
    return 1;
  }
  return Math.min(viewport.width / image.width, viewport.height / image.height);
}

/** Screen pixels per image pixel for this transform. */
export function scaleOf(t: Transform): number {
  return fitScale(t.image, t.viewport) * t.view.zoom;
}

function mirrorX(t: Transform, x: number): number {
  return t.flipH ? t.image.width - x : x;
}

export function imageToScreen(t: Transform, p: Point): Point {
  const s = scaleOf(t);
  // Both the point and the view centre go through the same mirror, then scale about the centre.
  return {
    x: t.viewport.width / 2 + (mirrorX(t, p.x) - mirrorX(t, t.view.centerX)) * s,
    y: t.viewport.height / 2 + (p.y - t.view.centerY) * s,
  };
}

export function screenToImage(t: Transform, p: Point): Point {
  const s = scaleOf(t);
  const displayX = mirrorX(t, t.view.centerX) + (p.x - t.viewport.width / 2) / s;
  return {
    x: mirrorX(t, displayX),
    y: t.view.centerY + (p.y - t.viewport.height / 2) / s,
  };
}

/**
 * The affine map image -> screen as an SVG/canvas matrix [a, b, c, d, e, f]
 * (x' = a*x + c*y + e, y' = b*x + d*y + f).
 */
export function imageToScreenMatrix(t: Transform): [number, number, number, number, number, number] {
  const o = imageToScreen(t, { x: 0, y: 0 });
  const s = scaleOf(t);
  return [t.flipH ? -s : s, 0, 0, s, o.x, o.y];
}

function alignOffset(align: Align, free: number): number {
  // free = viewport extent minus image extent at fit scale (>= 0 along the constrained axis).
  if (align === "start") return 0;
  if (align === "end") return free;
  return free / 2;
}

/**
 * The view that shows the whole image at zoom 1, placed in the viewport per `align`, where the
 * alignment is on SCREEN (after mirroring): "end" on x puts the image's displayed right edge on
 * the viewport's right edge. The hanging protocol uses that to put chest walls on the centre line.
 */
export function fitView(image: Size, viewport: Size, flipH: boolean, align: FitAlign): ViewState {
  const s = fitScale(image, viewport);
  const left = alignOffset(align.x, viewport.width - image.width * s);
  const top = alignOffset(align.y, viewport.height - image.height * s);
  // The displayed x (after mirroring) at the viewport centre, converted back to an original x.
  const displayCenterX = (viewport.width / 2 - left) / s;
  const centerY = (viewport.height / 2 - top) / s;
  return {
    zoom: 1,
    centerX: flipH ? image.width - displayCenterX : displayCenterX,
    centerY,
  };
}

export function clampZoom(zoom: number, min = MIN_ZOOM, max = MAX_ZOOM): number {
  return Math.min(max, Math.max(min, zoom));
}

/** Zoom by `factor` keeping the image point under `screenPoint` where it is on screen. */
export function zoomAbout(
  t: Transform,
  screenPoint: Point,
  factor: number,
  limits: { min?: number; max?: number } = {},
): ViewState {
  const zoom = clampZoom(t.view.zoom * factor, limits.min, limits.max);
  const anchor = screenToImage(t, screenPoint);
  const s = fitScale(t.image, t.viewport) * zoom;
  // Solve imageToScreen(anchor) == screenPoint for the new centre.
  const displayAnchorX = mirrorX(t, anchor.x);
  const displayCenterX = displayAnchorX - (screenPoint.x - t.viewport.width / 2) / s;
  return {
    zoom,
    centerX: mirrorX(t, displayCenterX),
    centerY: anchor.y - (screenPoint.y - t.viewport.height / 2) / s,
  };
}

/** Move the image by (dx, dy) screen pixels (the image follows the pointer). */
export function panBy(t: Transform, dx: number, dy: number): ViewState {
  const s = scaleOf(t);
  const ddx = dx / s;
  return {
    zoom: t.view.zoom,
    // Dragging right shows more of what is displayed on the left: the displayed centre moves
    // left; on a mirrored image that is +x in original pixels.
    centerX: t.view.centerX + (t.flipH ? ddx : -ddx),
    centerY: t.view.centerY - dy / s,
  };
}

export function normalizeBox(box: Box): Box {
  return {
    xmin: Math.min(box.xmin, box.xmax),
    xmax: Math.max(box.xmin, box.xmax),
    ymin: Math.min(box.ymin, box.ymax),
    ymax: Math.max(box.ymin, box.ymax),
  };
}

/** Normalise, then clamp every edge into [0, width] x [0, height]. */
export function clampBox(box: Box, image: Size): Box {
  const n = normalizeBox(box);
  const cx = (v: number): number => Math.min(image.width, Math.max(0, v));
  const cy = (v: number): number => Math.min(image.height, Math.max(0, v));
  return { xmin: cx(n.xmin), xmax: cx(n.xmax), ymin: cy(n.ymin), ymax: cy(n.ymax) };
}

/** A rectangle dragged on screen from a to b, as a box in original image pixels. */
export function screenRectToImageBox(t: Transform, a: Point, b: Point): Box {
  const p = screenToImage(t, a);
  const q = screenToImage(t, b);
  return clampBox({ xmin: p.x, ymin: p.y, xmax: q.x, ymax: q.y }, t.image);
}

/** Where a stored box appears on screen (mirroring swaps its left and right edges). */
export function imageBoxToScreenRect(t: Transform, box: Box): Rect {
  const p = imageToScreen(t, { x: box.xmin, y: box.ymin });
  const q = imageToScreen(t, { x: box.xmax, y: box.ymax });
  return {
    x: Math.min(p.x, q.x),
    y: Math.min(p.y, q.y),
    width: Math.abs(q.x - p.x),
    height: Math.abs(q.y - p.y),
  };
}

/** The whole image's rectangle on screen. */
export function imageRectOnScreen(t: Transform): Rect {
  return imageBoxToScreenRect(t, { xmin: 0, ymin: 0, xmax: t.image.width, ymax: t.image.height });
}

/** Where a viewport's canvas sits (CSS px from the viewport's top-left) and its backing size. */
export interface CanvasArea {
  x: number;
  y: number;
  width: number;
  height: number;
  deviceWidth: number;
  deviceHeight: number;
}

/**
 * The part of the viewport the WebGL canvas must cover: the image's rectangle on screen clipped
 * to the viewport, grown to whole device pixels (`dpr` device px per CSS px), at least one
 * device pixel. Everything outside the image is black anyway (the viewport's background), and
 * on a software rasteriser every canvas pixel is shaded, read back and composited each frame:
 * at fit to the breast the film covers about 40% of its cell.
 */
export function canvasArea(image: Rect, viewport: Size, dpr: number): CanvasArea {
  const x0 = Math.max(0, Math.floor(Math.max(0, image.x) * dpr + 1e-6));
  const y0 = Math.max(0, Math.floor(Math.max(0, image.y) * dpr + 1e-6));
  const maxX = Math.max(1, Math.round(viewport.width * dpr));
  const maxY = Math.max(1, Math.round(viewport.height * dpr));
  const x1 = Math.min(maxX, Math.ceil(Math.min(viewport.width, image.x + image.width) * dpr - 1e-6));
  const y1 = Math.min(maxY, Math.ceil(Math.min(viewport.height, image.y + image.height) * dpr - 1e-6));
  const left = Math.min(x0, maxX - 1);
  const top = Math.min(y0, maxY - 1);
  const deviceWidth = Math.max(1, x1 - left);
  const deviceHeight = Math.max(1, y1 - top);
  return { x: left / dpr, y: top / dpr, width: deviceWidth / dpr, height: deviceHeight / dpr, deviceWidth, deviceHeight };
}

/**
 * Window/level from a drag of (dx, dy) screen pixels since the drag began at `start`.
 * Horizontal changes the width (right = wider, less contrast), vertical the centre (down = higher
 * centre, darker image), as in most PACS viewers. The step per pixel is a
 * fraction of `range` (the data's value range) so that a drag across the viewport sweeps the
 * useful range whatever the bit depth.
 */
export function windowFromDrag(
  start: WindowLevel,
  dx: number,
  dy: number,
  range: number,
  sensitivity = 1 / 512,
): WindowLevel {
  const step = Math.max(range, 1) * sensitivity;
  return {
    center: start.center + dy * step,
    width: Math.max(1, start.width + dx * step),
  };
}

/**
 * A view in terms shared between viewports of different images for synchronised zoom/pan: the
 * zoom (relative to fit) and the view centre as a fraction of the DISPLAYED image. With
 * `mirrorSide` the horizontal fraction is measured from the displayed right edge, so that two
 * viewports on either side of the hanging's centre line (RCC | LCC) map to the same anatomy.
 */
export interface SharedView {
  zoom: number;
  u: number;
  v: number;
}

export function toSharedView(view: ViewState, image: Size, flipH: boolean, mirrorSide: boolean): SharedView {
  const displayU = (flipH ? image.width - view.centerX : view.centerX) / image.width;
  return {
    zoom: view.zoom,
    u: mirrorSide ? 1 - displayU : displayU,
    v: view.centerY / image.height,
  };
}

export function fromSharedView(shared: SharedView, image: Size, flipH: boolean, mirrorSide: boolean): ViewState {
  const displayU = mirrorSide ? 1 - shared.u : shared.u;
  const displayX = displayU * image.width;
  return {
    zoom: shared.zoom,
    centerX: flipH ? image.width - displayX : displayX,
    centerY: shared.v * image.height,
  };
}

/** What carrying a view between two images needs of each: its size, its mirroring and its side
 * of the centre line (right-breast views hang left of it). */
export interface ViewFrame {
  width: number;
  height: number;
  flipH: boolean;
  right: boolean;
}

/**
 * `view` of the image in `from` as the same anatomical view of the image in `to`: the breast-pair
 * sync rule (SharedView), so the same zoom relative to fit and the same centre as a fraction of
 * the displayed image measured from the chest wall. Used within a hanging (RCC -> LCC) and from a
 * current view to its prior below (RCC -> prior RCC, images of other sizes).
 */
export function carryView(view: ViewState, from: ViewFrame, to: ViewFrame): ViewState {
  const shared = toSharedView(view, from, from.flipH, from.right);
  return fromSharedView(shared, to, to.flipH, to.right);
}

/**
 * A window/level of one view carried to a view of another exam, relative to each view's own
 * default window: the same shift of the centre in default widths and the same width ratio. Two
 * exams of a patient need not share modality values (other detector, other digitiser: the demo's
 * CBIS-DDSM films sit at levels ~28,000 and ~46,000), so the prior keeps its own contrast and
 * follows the reader's changes. Equal defaults (or either unknown) carry the values as they are.
 */
export function carryWindow(w: WindowLevel, fromDefault: WindowLevel | null, toDefault: WindowLevel | null): WindowLevel {
  if (!fromDefault || !toDefault || fromDefault.width <= 0 ||
      (fromDefault.center === toDefault.center && fromDefault.width === toDefault.width)) return { ...w };
  const shift = (w.center - fromDefault.center) / fromDefault.width;
  return {
    center: toDefault.center + shift * toDefault.width,
    width: Math.max(1, (w.width / fromDefault.width) * toDefault.width),
  };
}

/** Apply the DICOM linear VOI function (PS3.3 C.11.2.1.2) to a modality value, giving 0..1. */
export function applyWindow(value: number, w: WindowLevel): number {
  // A width of 1 is a step function in the standard; guard the division it would cause.
  if (w.width <= 1) return value < w.center - 0.5 ? 0 : 1;
  const y = (value - (w.center - 0.5)) / (w.width - 1) + 0.5;
  return Math.min(1, Math.max(0, y));
}
