// Lengths and box sizes in mm (issue 12 item 4). Pure: no DOM, no viewer. Points and boxes are
// original-image pixel coordinates; the spacing is the image's [row, column] mm per pixel
// (PixelSpacing, else ImagerPixelSpacing). A horizontal step of dx pixels is dx x column
// spacing, a vertical one dy x row spacing. With ImagerPixelSpacing the length is at the detector
// plane (the breast, nearer the X-ray source, is magnified by a few percent): labelled so.

import type { Box, Point } from "./boxgeom";

export type Spacing = readonly number[] | null | undefined;
export type SpacingSource = string | null | undefined;

function usable(spacing: Spacing): [number, number] | null {
  if (!spacing || spacing.length !== 2) return null;
  const [row, col] = spacing as [number, number];
  return row > 0 && col > 0 && Number.isFinite(row) && Number.isFinite(col) ? [row, col] : null;
}

/** Euclidean length in mm between two image points; null without a usable spacing. */
export function lengthMm(a: Point, b: Point, spacing: Spacing): number | null {
  const s = usable(spacing);
  if (!s) return null;
  return Math.hypot((b.x - a.x) * s[1], (b.y - a.y) * s[0]);
}

/** A box's width (image x) and height (image y) in mm; null without a usable spacing. */
export function boxSizeMm(box: Box, spacing: Spacing): { width: number; height: number } | null {
  const s = usable(spacing);
  if (!s) return null;
  return { width: Math.abs(box.xmax - box.xmin) * s[1], height: Math.abs(box.ymax - box.ymin) * s[0] };
}

/** " at detector" when the spacing is ImagerPixelSpacing; "" for PixelSpacing or unknown. */
export function spacingQualifier(source: SpacingSource): string {
  return source === "ImagerPixelSpacing" ? " at detector" : "";
}

/** One decimal below 100 mm, whole mm above. */
export function formatMm(mm: number): string {
  return mm < 100 ? mm.toFixed(1) : String(Math.round(mm));
}

/** "23.4 mm at detector", or "312 px" when the image has no spacing. */
export function lengthLabel(a: Point, b: Point, spacing: Spacing, source: SpacingSource): string {
  const mm = lengthMm(a, b, spacing);
  if (mm === null) return `${Math.round(Math.hypot(b.x - a.x, b.y - a.y))} px (no spacing)`;
  return `${formatMm(mm)} mm${spacingQualifier(source)}`;
}

/** "12.3 × 8.1 mm at detector", or null when the image has no spacing. */
export function boxSizeLabel(box: Box, spacing: Spacing, source: SpacingSource): string | null {
  const size = boxSizeMm(box, spacing);
  if (!size) return null;
  return `${formatMm(size.width)} × ${formatMm(size.height)} mm${spacingQualifier(source)}`;
}

/** Distance in screen px from point p to the segment a-b (hit testing a drawn line). */
export function distanceToSegment(p: Point, a: Point, b: Point): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

/** Clamp an image point into [0, columns] x [0, rows] (the server refuses points outside). */
export function clampPoint(p: Point, columns: number, rows: number): Point {
  return { x: Math.min(columns, Math.max(0, p.x)), y: Math.min(rows, Math.max(0, p.y)) };
}
