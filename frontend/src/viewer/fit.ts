// How a view opens: fitted to the breast (default), the whole film, true size or 1:1 pixels.
// Pure functions (unit-tested in fit.test.ts); the hanging layout feeds them each view's size,
// tissue bounds and pixel spacing, and the viewport turns the result into its ViewState.
//
// - Fit to breast: the tissue bounding box found at render time (apps/studies/dicom.py: tissue)
//   is fitted into the view, the chest-wall side of the box on the centre line, the box centred
//   vertically. All views shown together get the SAME physical scale (IHE Mammography "same
//   size"): the largest mm-on-screen scale at which every view's breast fits its cell. Without a
//   pixel spacing on every view, "same size" falls back to the same screen px per image px.
// - True size: 1 mm at the detector = 1 mm on screen. The screen pitch is not knowable from a
//   browser, so we assume CSS's reference pixel, 96 per inch (1 CSS px = 25.4 / 96 mm, i.e.
//   devicePixelRatio x 96 device px per inch): scale = spacing_mm * 96 / 25.4 CSS px per image px.
// - 1:1 pixels: one image pixel = one device pixel (1 / devicePixelRatio CSS px).
import { fitScale, fitView, type Box, type FitAlign, type Size, type ViewState } from "./geometry";

export type FitMode = "breast" | "film" | "trueSize" | "pixels";
export const FIT_MODES: readonly FitMode[] = ["breast", "film", "trueSize", "pixels"];
export const FIT_MODE_NAMES: Record<FitMode, string> = {
  breast: "Fit to breast",
  film: "Whole film",
  trueSize: "True size",
  pixels: "1:1 pixels",
};

/** CSS px per mm at CSS's reference pixel (96 per inch). */
export const CSS_PX_PER_MM = 96 / 25.4;

export function nextFitMode(mode: FitMode): FitMode {
  return FIT_MODES[(FIT_MODES.indexOf(mode) + 1) % FIT_MODES.length]!;
}

/** One view as the fit sees it. */
export interface FitItem {
  image: Size;
  viewport: Size;
  /** Tissue bounds in original pixels; null = the whole image. */
  bounds: Box | null;
  /** mm per image pixel (column spacing); null = unknown. */
  mmPerPx: number | null;
}

function boundsOf(item: FitItem): Box {
  return item.bounds ?? { xmin: 0, ymin: 0, xmax: item.image.width, ymax: item.image.height };
}

/** Screen px per image px at which the breast (tissue bounds) just fits the viewport. */
export function breastFitScale(item: FitItem): number {
  const b = boundsOf(item);
  return fitScale({ width: Math.max(1, b.xmax - b.xmin), height: Math.max(1, b.ymax - b.ymin) }, item.viewport);
}

/**
 * The scale of each view so that every view's breast fits AND all share one physical scale
 * (screen px per mm; per image px when any spacing is unknown). Returned in screen px per image
 * px, one per item, in order.
 */
export function sameSizeBreastScales(items: readonly FitItem[]): number[] {
  if (items.length === 0) return [];
  const physical = items.every((i) => i.mmPerPx !== null && i.mmPerPx > 0);
  const unit = (i: FitItem): number => (physical ? i.mmPerPx! : 1);
  const common = Math.min(...items.map((i) => breastFitScale(i) / unit(i)));
  return items.map((i) => common * unit(i));
}

export function trueSizeScale(mmPerPx: number): number {
  return mmPerPx * CSS_PX_PER_MM;
}

export function pixelScale(devicePixelRatio: number): number {
  return 1 / (devicePixelRatio > 0 ? devicePixelRatio : 1);
}

/**
 * The view at an absolute `scale` (screen px per image px) with the breast's chest-wall side on
 * the aligned edge (align.x "end": the displayed right edge, "start": the left) and the breast
 * centred vertically. Mirroring is taken into account: alignment is on SCREEN.
 */
export function anchoredView(item: FitItem, flipH: boolean, align: FitAlign, scale: number): ViewState {
  const b = boundsOf(item);
  const w = item.image.width;
  const displayMin = flipH ? w - b.xmax : b.xmin;
  const displayMax = flipH ? w - b.xmin : b.xmax;
  const half = item.viewport.width / 2 / scale;
  const displayCenterX =
    align.x === "end" ? displayMax - half : align.x === "start" ? displayMin + half : (displayMin + displayMax) / 2;
  return {
    zoom: scale / fitScale(item.image, item.viewport),
    centerX: flipH ? w - displayCenterX : displayCenterX,
    centerY: (b.ymin + b.ymax) / 2,
  };
}

/**
 * The fitted view of one view in `mode`. `group` is every view shown with it (itself included),
 * for the same-size rule of "breast"; true size without a spacing falls back to the breast fit.
 */
export function fittedView(
  mode: FitMode,
  item: FitItem,
  group: readonly FitItem[],
  flipH: boolean,
  align: FitAlign,
  devicePixelRatio: number,
): ViewState {
  if (mode === "film") return fitView(item.image, item.viewport, flipH, align);
  if (mode === "pixels") return anchoredView(item, flipH, align, pixelScale(devicePixelRatio));
  if (mode === "trueSize" && item.mmPerPx) return anchoredView(item, flipH, align, trueSizeScale(item.mmPerPx));
  const members = group.includes(item) ? group : [...group, item];
  const scales = sameSizeBreastScales(members);
  return anchoredView(item, flipH, align, scales[members.indexOf(item)]!);
}
