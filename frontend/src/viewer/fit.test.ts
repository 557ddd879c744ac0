import { describe, expect, it } from "vitest";
import { CSS_PX_PER_MM, anchoredView, fittedView, nextFitMode, sameSizeBreastScales, trueSizeScale, type FitItem } from "./fit";
import { imageToScreen, type Transform } from "./geometry";

const viewport = { width: 400, height: 500 };
const rcc: FitItem = { image: { width: 3000, height: 4000 }, viewport, bounds: { xmin: 1800, ymin: 1000, xmax: 3000, ymax: 3000 }, mmPerPx: 0.05 };
const lcc: FitItem = { image: { width: 3000, height: 4000 }, viewport, bounds: { xmin: 0, ymin: 800, xmax: 1000, ymax: 3400 }, mmPerPx: 0.05 };

function screen(item: FitItem, flipH: boolean, view: ReturnType<typeof anchoredView>, x: number, y: number) {
  const t: Transform = { image: item.image, viewport: item.viewport, flipH, view };
  return imageToScreen(t, { x, y });
}

describe("fit to breast", () => {
  it("puts the chest-wall side of the breast on the centre line and centres it vertically", () => {
    const view = anchoredView(rcc, false, { x: "end", y: "center" }, 0.2);
    expect(screen(rcc, false, view, 3000, 2000).x).toBeCloseTo(400); // chest wall at the right edge
    expect(screen(rcc, false, view, 3000, 2000).y).toBeCloseTo(250);
    const left = anchoredView(lcc, false, { x: "start", y: "center" }, 0.2);
    expect(screen(lcc, false, left, 0, 2100).x).toBeCloseTo(0);
  });

  it("aligns on screen when the image is mirrored", () => {
    // Stored chest wall on the left (x = 0), displayed mirrored for a right breast: it must end up on the right.
    const mirrored: FitItem = { ...rcc, bounds: { xmin: 0, ymin: 1000, xmax: 1200, ymax: 3000 } };
    const view = anchoredView(mirrored, true, { x: "end", y: "center" }, 0.3);
    expect(screen(mirrored, true, view, 0, 2000).x).toBeCloseTo(400);
    expect(screen(mirrored, true, view, 1200, 2000).x).toBeCloseTo(400 - 1200 * 0.3);
  });

  it("gives every view the same physical scale, the largest at which each breast fits", () => {
    const [a, b] = sameSizeBreastScales([rcc, lcc]);
    // rcc alone: min(400/1200, 500/2000) = 0.25; lcc alone: min(400/1000, 500/2600) = 0.1923.
    expect(a).toBeCloseTo(500 / 2600);
    expect(b).toBeCloseTo(500 / 2600);
    const finer: FitItem = { ...lcc, mmPerPx: 0.1 };
    const [c, d] = sameSizeBreastScales([rcc, finer]);
    expect(c! / 0.05).toBeCloseTo(d! / 0.1); // same px per mm
    expect(Math.max(1200 * c!, 1000 * d!)).toBeLessThanOrEqual(400 + 1e-9);
  });

  it("falls back to the same px per image px when a spacing is unknown", () => {
    const [a, b] = sameSizeBreastScales([rcc, { ...lcc, mmPerPx: null }]);
    expect(a).toBeCloseTo(b!);
  });

  it("breast fit fills more of the view than the whole film", () => {
    const breast = fittedView("breast", rcc, [rcc, lcc], false, { x: "end", y: "center" }, 1);
    const film = fittedView("film", rcc, [rcc, lcc], false, { x: "end", y: "center" }, 1);
    expect(breast.zoom).toBeGreaterThan(film.zoom * 1.5);
    expect(film.zoom).toBe(1);
  });
});

describe("true size and 1:1", () => {
  it("maps 1 mm at the detector to 96/25.4 CSS px", () => {
    expect(trueSizeScale(0.05)).toBeCloseTo(0.05 * 96 / 25.4);
    const view = fittedView("trueSize", rcc, [rcc], false, { x: "end", y: "center" }, 2);
    const a = screen(rcc, false, view, 2000, 2000);
    const b = screen(rcc, false, view, 2200, 2000); // 200 px = 10 mm
    expect(b.x - a.x).toBeCloseTo(10 * CSS_PX_PER_MM);
  });
  it("shows one image pixel per device pixel", () => {
    const view = fittedView("pixels", rcc, [rcc], false, { x: "end", y: "center" }, 2);
    expect(screen(rcc, false, view, 2001, 2000).x - screen(rcc, false, view, 2000, 2000).x).toBeCloseTo(0.5);
  });
  it("true size without a spacing falls back to fit to breast", () => {
    const unknown = { ...rcc, mmPerPx: null };
    expect(fittedView("trueSize", unknown, [unknown], false, { x: "end", y: "center" }, 1))
      .toEqual(fittedView("breast", unknown, [unknown], false, { x: "end", y: "center" }, 1));
  });
  it("cycles breast -> film -> true size -> 1:1 -> breast", () => {
    expect([nextFitMode("breast"), nextFitMode("film"), nextFitMode("trueSize"), nextFitMode("pixels")])
      .toEqual(["film", "trueSize", "pixels", "breast"]);
  });
});
