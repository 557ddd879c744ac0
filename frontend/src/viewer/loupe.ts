// Magnifier (loupe) geometry, pure and unit-tested (issue 12 item 2). The loupe is a square of
// `size` CSS px centred on the pointer that shows the image around the pointer `factor` times
// larger than the view, drawn by the viewport's own renderer from the full-depth texture (the
// 16-bit data, sampled at the pyramid level its own scale needs: native pixels once it reaches
// 1 image px per device px) with the current window.

import type { Point, Rect } from "./geometry";

export interface LoupeSpec {
  /** Magnification relative to the current view (2 or 4 on the reading screen). */
  factor: number;
  /** Side of the square, CSS px. */
  size: number;
}

export const LOUPE_FACTORS: readonly number[] = [2, 4];
export const LOUPE_MIN_SIZE = 120;
export const LOUPE_MAX_SIZE = 600;
export const LOUPE_DEFAULT: LoupeSpec = { factor: 2, size: 280 };

/** CSS px -> image px affine map, per axis: image = css * s + o (negative sx = mirrored). */
export interface AxisMap {
  sx: number;
  ox: number;
  sy: number;
  oy: number;
}

/** The loupe's own map: the image point under the pointer stays under it, everything around it
 *  is `factor` times larger (mirroring kept). */
export function loupeMap(map: AxisMap, pointer: Point, factor: number): AxisMap {
  const f = Math.max(factor, 1e-6);
  const ix = pointer.x * map.sx + map.ox;
  const iy = pointer.y * map.sy + map.oy;
  return { sx: map.sx / f, ox: ix - (pointer.x * map.sx) / f, sy: map.sy / f, oy: iy - (pointer.y * map.sy) / f };
}

/** The loupe's square in CSS px, centred on the pointer (the canvas clips what lies outside). */
export function loupeRect(pointer: Point, size: number): Rect {
  return { x: pointer.x - size / 2, y: pointer.y - size / 2, width: size, height: size };
}

/** The same square in whole device pixels, clipped to the canvas; null when nothing is left. */
export function loupeDeviceRect(rect: Rect, dpr: number, canvas: { width: number; height: number }): Rect | null {
  const x0 = Math.max(0, Math.round(rect.x * dpr));
  const y0 = Math.max(0, Math.round(rect.y * dpr));
  const x1 = Math.min(canvas.width, Math.round((rect.x + rect.width) * dpr));
  const y1 = Math.min(canvas.height, Math.round((rect.y + rect.height) * dpr));
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
}

/** Next factor in the cycle off -> 2x -> 4x -> off (null = off). */
export function nextLoupeFactor(current: number | null): number | null {
  if (current === null) return LOUPE_FACTORS[0]!;
  const i = LOUPE_FACTORS.indexOf(current);
  return i >= 0 && i < LOUPE_FACTORS.length - 1 ? LOUPE_FACTORS[i + 1]! : null;
}

/** Resize by `step` CSS px within the allowed range. */
export function resizeLoupe(spec: LoupeSpec, step: number): LoupeSpec {
  return { ...spec, size: Math.min(LOUPE_MAX_SIZE, Math.max(LOUPE_MIN_SIZE, spec.size + step)) };
}
