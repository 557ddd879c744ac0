import { describe, expect, it } from "vitest";
import {
  applyWindow,
  clampBox,
  fitScale,
  fitView,
  carryView,
  carryWindow,
  fromSharedView,
  imageBoxToScreenRect,
  imageRectOnScreen,
  canvasArea,
  imageToScreen,
  imageToScreenMatrix,
  MAX_ZOOM,
  normalizeBox,
  panBy,
  screenRectToImageBox,
  screenToImage,
  toSharedView,
  windowFromDrag,
  zoomAbout,
  type Point,
  type Transform,
  type ViewState,
} from "./geometry";

// A mammogram-shaped image (portrait) in a landscape-ish viewport, the usual reading situation.
const IMAGE = { width: 2800, height: 4400 };
const VIEWPORT = { width: 800, height: 550 };

function transform(view: ViewState, flipH = false): Transform {
  return { image: IMAGE, viewport: VIEWPORT, flipH, view };
}

function expectPointClose(actual: Point, expected: Point, digits = 6): void {
  expect(actual.x).toBeCloseTo(expected.x, digits);
  expect(actual.y).toBeCloseTo(expected.y, digits);
}

const CENTERED: ViewState = { zoom: 1, centerX: 1400, centerY: 2200 };

describe("fitScale", () => {
  it("is limited by the height for a portrait image in a landscape viewport", () => {
    expect(fitScale(IMAGE, VIEWPORT)).toBeCloseTo(550 / 4400, 12);
  });

  it("is limited by the width for a wide image", () => {
    expect(fitScale({ width: 1000, height: 100 }, { width: 500, height: 500 })).toBeCloseTo(0.5, 12);
  });

  it("falls back to 1 for empty sizes instead of dividing by zero", () => {
    expect(fitScale({ width: 0, height: 0 }, VIEWPORT)).toBe(1);
    expect(fitScale(IMAGE, { width: 0, height: 0 })).toBe(1);
  });
});

describe("imageToScreen and screenToImage", () => {
  it("puts the view centre at the viewport centre", () => {
    expectPointClose(imageToScreen(transform(CENTERED), { x: 1400, y: 2200 }), { x: 400, y: 275 });
    expectPointClose(imageToScreen(transform(CENTERED, true), { x: 1400, y: 2200 }), { x: 400, y: 275 });
  });

  it("maps the image corners at fit so the image spans the viewport height", () => {
    const t = transform(CENTERED);
    const s = 550 / 4400;
    expectPointClose(imageToScreen(t, { x: 0, y: 0 }), { x: 400 - 1400 * s, y: 0 });
    expectPointClose(imageToScreen(t, { x: 2800, y: 4400 }), { x: 400 + 1400 * s, y: 550 });
  });

  it("mirrors the image left-right when flipped: original x = 0 appears on the right", () => {
    const t = transform(CENTERED, true);
    const s = 550 / 4400;
    expectPointClose(imageToScreen(t, { x: 0, y: 0 }), { x: 400 + 1400 * s, y: 0 });
    expectPointClose(imageToScreen(t, { x: 2800, y: 0 }), { x: 400 - 1400 * s, y: 0 });
  });

  it("keeps y untouched by mirroring", () => {
    const p = { x: 123, y: 3210 };
    expect(imageToScreen(transform(CENTERED, true), p).y).toBeCloseTo(imageToScreen(transform(CENTERED), p).y, 9);
  });

  it("scales distances by the zoom", () => {
    const t = transform({ zoom: 4, centerX: 1000, centerY: 1000 });
    const a = imageToScreen(t, { x: 1000, y: 1000 });
    const b = imageToScreen(t, { x: 1010, y: 1000 });
    expect(b.x - a.x).toBeCloseTo(10 * 4 * (550 / 4400), 9);
  });

  it.each([
    [false, { zoom: 1, centerX: 1400, centerY: 2200 }],
    [true, { zoom: 1, centerX: 1400, centerY: 2200 }],
    [false, { zoom: 7.3, centerX: 512.5, centerY: 3999 }],
    [true, { zoom: 7.3, centerX: 512.5, centerY: 3999 }],
    [true, { zoom: 0.25, centerX: -300, centerY: 10 }],
  ])("round-trips image -> screen -> image (flip %s, view %o)", (flipH, view) => {
    const t = transform(view, flipH);
    for (const p of [
      { x: 0, y: 0 },
      { x: 2800, y: 4400 },
      { x: 17.25, y: 3301.5 },
      { x: -50, y: 5000 },
    ]) {
      expectPointClose(screenToImage(t, imageToScreen(t, p)), p, 6);
    }
  });

  it.each([false, true])("round-trips screen -> image -> screen (flip %s)", (flipH) => {
    const t = transform({ zoom: 3, centerX: 900, centerY: 1200 }, flipH);
    for (const p of [
      { x: 0, y: 0 },
      { x: 800, y: 550 },
      { x: 333.3, y: 12.5 },
    ]) {
      expectPointClose(imageToScreen(t, screenToImage(t, p)), p, 6);
    }
  });

  it("agrees with the SVG matrix for the image layer, mirrored or not", () => {
    for (const flipH of [false, true]) {
      const t = transform({ zoom: 2.5, centerX: 700, centerY: 1800 }, flipH);
      const [a, b, c, d, e, f] = imageToScreenMatrix(t);
      for (const p of [
        { x: 0, y: 0 },
        { x: 1234, y: 567 },
        { x: 2800, y: 4400 },
      ]) {
        expectPointClose({ x: a * p.x + c * p.y + e, y: b * p.x + d * p.y + f }, imageToScreen(t, p));
      }
    }
  });
});

describe("fitView", () => {
  it("centres the image by default", () => {
    const view = fitView(IMAGE, VIEWPORT, false, { x: "center", y: "center" });
    expect(view).toEqual({ zoom: 1, centerX: 1400, centerY: 2200 });
    const r = imageRectOnScreen(transform(view));
    expect(r.x + r.width / 2).toBeCloseTo(400, 9);
  });

  it("puts the displayed right edge on the viewport's right edge when aligned to the end", () => {
    // A right-breast view in the hanging: chest wall at the right edge, facing the centre line.
    for (const flipH of [false, true]) {
      const view = fitView(IMAGE, VIEWPORT, flipH, { x: "end", y: "start" });
      const r = imageRectOnScreen(transform(view, flipH));
      expect(r.x + r.width).toBeCloseTo(800, 9);
      expect(r.y).toBeCloseTo(0, 9);
      expect(r.height).toBeCloseTo(550, 9);
    }
  });

  it("puts the displayed left edge on the viewport's left edge when aligned to the start", () => {
    for (const flipH of [false, true]) {
      const view = fitView(IMAGE, VIEWPORT, flipH, { x: "start", y: "center" });
      expect(imageRectOnScreen(transform(view, flipH)).x).toBeCloseTo(0, 9);
    }
  });

  it("shows the flipped image's original left column at the right edge when aligned to the end", () => {
    const view = fitView(IMAGE, VIEWPORT, true, { x: "end", y: "center" });
    expect(imageToScreen(transform(view, true), { x: 0, y: 2200 }).x).toBeCloseTo(800, 9);
  });

  it("aligns vertically for a wide image in a tall viewport", () => {
    const image = { width: 1000, height: 200 };
    const viewport = { width: 500, height: 500 };
    const view = fitView(image, viewport, false, { x: "center", y: "end" });
    const r = imageRectOnScreen({ image, viewport, flipH: false, view });
    expect(r.y + r.height).toBeCloseTo(500, 9);
    expect(r.width).toBeCloseTo(500, 9);
  });
});

describe("zoomAbout", () => {
  it.each([false, true])("keeps the image point under the cursor fixed (flip %s)", (flipH) => {
    const t = transform({ zoom: 1.5, centerX: 1300, centerY: 2100 }, flipH);
    const cursor = { x: 612, y: 101 };
    const before = screenToImage(t, cursor);
    const view = zoomAbout(t, cursor, 2);
    expect(view.zoom).toBeCloseTo(3, 12);
    const after = transform(view, flipH);
    expectPointClose(screenToImage(after, cursor), before, 6);
    expectPointClose(imageToScreen(after, before), cursor, 6);
  });

  it("zooming in then out by the same factor about the same point restores the view", () => {
    const t = transform({ zoom: 2, centerX: 800, centerY: 900 }, true);
    const cursor = { x: 100, y: 500 };
    const inView = zoomAbout(t, cursor, 1.7);
    const back = zoomAbout(transform(inView, true), cursor, 1 / 1.7);
    expect(back.zoom).toBeCloseTo(2, 9);
    expect(back.centerX).toBeCloseTo(800, 6);
    expect(back.centerY).toBeCloseTo(900, 6);
  });

  it("clamps the zoom and still keeps the anchor on the cursor", () => {
    const t = transform({ zoom: 40, centerX: 800, centerY: 900 });
    const cursor = { x: 200, y: 300 };
    const before = screenToImage(t, cursor);
    const view = zoomAbout(t, cursor, 10);
    expect(view.zoom).toBe(MAX_ZOOM);
    expectPointClose(screenToImage(transform(view), cursor), before, 6);
  });

  it("zooming about the viewport centre keeps the centre", () => {
    const t = transform(CENTERED, true);
    const view = zoomAbout(t, { x: 400, y: 275 }, 3);
    expect(view.centerX).toBeCloseTo(1400, 9);
    expect(view.centerY).toBeCloseTo(2200, 9);
  });
});

describe("panBy", () => {
  it.each([false, true])("moves the image point under the pointer with the pointer (flip %s)", (flipH) => {
    const t = transform({ zoom: 2, centerX: 1400, centerY: 2200 }, flipH);
    const grab = { x: 300, y: 200 };
    const imagePoint = screenToImage(t, grab);
    const view = panBy(t, 37, -12);
    expectPointClose(imageToScreen(transform(view, flipH), imagePoint), { x: 337, y: 188 }, 6);
    expect(view.zoom).toBe(2);
  });

  it("moves the centre the other way in original pixels on a mirrored image", () => {
    const plain = panBy(transform(CENTERED), 50, 0);
    const mirrored = panBy(transform(CENTERED, true), 50, 0);
    expect(plain.centerX).toBeLessThan(1400);
    expect(mirrored.centerX).toBeGreaterThan(1400);
    expect(plain.centerX - 1400).toBeCloseTo(-(mirrored.centerX - 1400), 9);
  });
});

describe("boxes", () => {
  it("normalises a box dragged up and to the left", () => {
    expect(normalizeBox({ xmin: 10, ymin: 20, xmax: 5, ymax: 2 })).toEqual({ xmin: 5, ymin: 2, xmax: 10, ymax: 20 });
  });

  it("clamps a box to the image", () => {
    expect(clampBox({ xmin: -10, ymin: 4000, xmax: 3000, ymax: 4500 }, IMAGE)).toEqual({
      xmin: 0,
      ymin: 4000,
      xmax: 2800,
      ymax: 4400,
    });
  });

  it("turns a screen drag into an image box at any zoom", () => {
    const t = transform({ zoom: 4, centerX: 1000, centerY: 1000 });
    const s = 4 * (550 / 4400);
    // 50 x 25 screen pixels right/down of the centre.
    const box = screenRectToImageBox(t, { x: 400, y: 275 }, { x: 450, y: 300 });
    expect(box.xmin).toBeCloseTo(1000, 9);
    expect(box.ymin).toBeCloseTo(1000, 9);
    expect(box.xmax).toBeCloseTo(1000 + 50 / s, 9);
    expect(box.ymax).toBeCloseTo(1000 + 25 / s, 9);
  });

  it("stores a box drawn left-to-right on a mirrored image with xmin < xmax in original pixels", () => {
    const t = transform({ zoom: 4, centerX: 1000, centerY: 1000 }, true);
    const s = 4 * (550 / 4400);
    const box = screenRectToImageBox(t, { x: 400, y: 275 }, { x: 450, y: 300 });
    // Screen right is original left on a mirrored image.
    expect(box.xmin).toBeCloseTo(1000 - 50 / s, 9);
    expect(box.xmax).toBeCloseTo(1000, 9);
    expect(box.xmin).toBeLessThan(box.xmax);
  });

  it("gives the same box whichever corner the drag starts from", () => {
    const t = transform({ zoom: 2, centerX: 1500, centerY: 2000 }, true);
    const a = { x: 120, y: 80 };
    const b = { x: 333, y: 401 };
    const expected = screenRectToImageBox(t, a, b);
    expect(screenRectToImageBox(t, b, a)).toEqual(expected);
    expect(screenRectToImageBox(t, { x: a.x, y: b.y }, { x: b.x, y: a.y })).toEqual(expected);
  });

  it("clamps a drag that leaves the image", () => {
    const t = transform(CENTERED);
    const box = screenRectToImageBox(t, { x: -100, y: -100 }, { x: 900, y: 700 });
    expect(box).toEqual({ xmin: 0, ymin: 0, xmax: 2800, ymax: 4400 });
  });

  it.each([false, true])("round-trips a box image -> screen -> image (flip %s)", (flipH) => {
    const t = transform({ zoom: 3.2, centerX: 1200, centerY: 1900 }, flipH);
    const box = { xmin: 1100, ymin: 1800, xmax: 1290.5, ymax: 1999.25 };
    const r = imageBoxToScreenRect(t, box);
    expect(r.width).toBeGreaterThan(0);
    expect(r.height).toBeGreaterThan(0);
    const back = screenRectToImageBox(t, { x: r.x, y: r.y }, { x: r.x + r.width, y: r.y + r.height });
    expect(back.xmin).toBeCloseTo(box.xmin, 6);
    expect(back.xmax).toBeCloseTo(box.xmax, 6);
    expect(back.ymin).toBeCloseTo(box.ymin, 6);
    expect(back.ymax).toBeCloseTo(box.ymax, 6);
  });

  it("shows a box near the original left edge near the screen's right when mirrored", () => {
    const t = transform(CENTERED, true);
    const r = imageBoxToScreenRect(t, { xmin: 0, ymin: 0, xmax: 100, ymax: 100 });
    const imageRect = imageRectOnScreen(t);
    expect(r.x + r.width).toBeCloseTo(imageRect.x + imageRect.width, 9);
  });
});

describe("windowFromDrag", () => {
  it("widens the window when dragging right and raises the centre when dragging down", () => {
    const w = windowFromDrag({ center: 2000, width: 1000 }, 100, 50, 4096);
    expect(w.width).toBeCloseTo(1000 + 100 * (4096 / 512), 9);
    expect(w.center).toBeCloseTo(2000 + 50 * (4096 / 512), 9);
  });

  it("never lets the width drop below 1", () => {
    expect(windowFromDrag({ center: 0, width: 10 }, -10000, 0, 4096).width).toBe(1);
  });

  it("returns the start window for a zero drag", () => {
    expect(windowFromDrag({ center: 12, width: 34 }, 0, 0, 65535)).toEqual({ center: 12, width: 34 });
  });
});

describe("applyWindow", () => {
  it("maps the window edges to black and white and the centre to mid grey", () => {
    const w = { center: 1000, width: 401 };
    expect(applyWindow(1000 - 0.5 - 200, w)).toBeCloseTo(0, 9);
    expect(applyWindow(1000 - 0.5 + 200, w)).toBeCloseTo(1, 9);
    expect(applyWindow(999.5, w)).toBeCloseTo(0.5, 9);
    expect(applyWindow(-1e6, w)).toBe(0);
    expect(applyWindow(1e6, w)).toBe(1);
  });

  it("treats a width of 1 as a threshold", () => {
    expect(applyWindow(9, { center: 10, width: 1 })).toBe(0);
    expect(applyWindow(10, { center: 10, width: 1 })).toBe(1);
  });
});

describe("shared views for synchronised zoom and pan", () => {
  const small = { width: 1400, height: 2200 };

  it("round-trips through the shared form", () => {
    for (const flipH of [false, true]) {
      for (const mirrorSide of [false, true]) {
        const view = { zoom: 2.5, centerX: 700, centerY: 1234 };
        const back = fromSharedView(toSharedView(view, IMAGE, flipH, mirrorSide), IMAGE, flipH, mirrorSide);
        expect(back.zoom).toBe(2.5);
        expect(back.centerX).toBeCloseTo(700, 9);
        expect(back.centerY).toBeCloseTo(1234, 9);
      }
    }
  });

  it("maps the same displayed fraction between same-side views of different sizes", () => {
    const view = { zoom: 3, centerX: 700, centerY: 1100 };
    const shared = toSharedView(view, IMAGE, false, false);
    expect(fromSharedView(shared, small, false, false)).toEqual({ zoom: 3, centerX: 350, centerY: 550 });
  });

  it("mirrors across the centre line: RCC showing its chest wall makes LCC show its chest wall", () => {
    // RCC hangs with its chest wall on the displayed right; LCC with its chest wall on the left.
    const rccView = fitView(IMAGE, VIEWPORT, true, { x: "end", y: "start" });
    const zoomed = zoomAbout(transform(rccView, true), { x: 780, y: 275 }, 4);
    const shared = toSharedView(zoomed, IMAGE, true, false);
    const lcc = fromSharedView(shared, IMAGE, false, true);
    // The displayed positions are mirror images about the viewport's vertical axis.
    const rccChestWall = imageToScreen(transform(zoomed, true), { x: 0, y: 2000 });
    const lccChestWall = imageToScreen(transform(lcc, false), { x: 0, y: 2000 });
    expect(lccChestWall.x).toBeCloseTo(800 - rccChestWall.x, 6);
    expect(lccChestWall.y).toBeCloseTo(rccChestWall.y, 6);
  });
});

describe("carrying a view and a window to the prior below", () => {
  const current = { width: 3000, height: 4000, flipH: false, right: true };
  const prior = { width: 2000, height: 2400, flipH: true, right: true };

  it("shows the same anatomy of the same breast at the same zoom, whatever the prior's size and mirroring", () => {
    // RCC zoomed 3x on a point 1/4 of the displayed width from the chest wall (the displayed
    // right edge of a right-breast view), 60% down.
    const view = { zoom: 3, centerX: 2250, centerY: 2400 };
    const carried = carryView(view, current, prior);
    expect(carried.zoom).toBe(3);
    // The prior is stored mirrored: displayed x = 2000 - centerX; 1/4 from the displayed right edge.
    expect(2000 - carried.centerX).toBeCloseTo(1500);
    expect(carried.centerY).toBeCloseTo(1440);
    const back = carryView(carried, prior, current);
    expect(back.centerX).toBeCloseTo(view.centerX);
    expect(back.centerY).toBeCloseTo(view.centerY);
  });

  it("is the hanging's own pair sync across the centre line", () => {
    const view = { zoom: 2, centerX: 700, centerY: 900 };
    const lcc = { width: 3000, height: 4000, flipH: false, right: false };
    expect(carryView(view, current, lcc)).toEqual(
      fromSharedView(toSharedView(view, current, false, true), lcc, false, false));
  });

  it("moves a window relative to each view's default, or as it is when the defaults agree", () => {
    const mine = { center: 28000, width: 30000 };
    const theirs = { center: 46000, width: 25000 };
    // Unchanged: the prior stays at its own default.
    expect(carryWindow(mine, mine, theirs)).toEqual(theirs);
    // Level up by a tenth of the width, width halved: the same on the prior's own scale.
    const w = carryWindow({ center: 31000, width: 15000 }, mine, theirs);
    expect(w.center).toBeCloseTo(48500);
    expect(w.width).toBeCloseTo(12500);
    expect(carryWindow({ center: 100, width: 50 }, mine, mine)).toEqual({ center: 100, width: 50 });
    expect(carryWindow({ center: 100, width: 50 }, null, theirs)).toEqual({ center: 100, width: 50 });
    expect(carryWindow({ center: 28000, width: 10 }, mine, theirs).width).toBeGreaterThanOrEqual(1);
  });
});

describe("canvasArea", () => {
  const viewport = { width: 959, height: 539 };

  it("covers only the image at fit, in whole device pixels", () => {
    // A film fitted by height with its chest wall at the right edge (the hanging's RCC).
    const a = canvasArea({ x: 604.3, y: 0, width: 354.7, height: 539 }, viewport, 1);
    expect(a).toEqual({ x: 604, y: 0, width: 355, height: 539, deviceWidth: 355, deviceHeight: 539 });
  });

  it("is clipped to the viewport when zoomed in", () => {
    const a = canvasArea({ x: -800, y: -1200, width: 3000, height: 4000 }, viewport, 1);
    expect(a).toEqual({ x: 0, y: 0, width: 959, height: 539, deviceWidth: 959, deviceHeight: 539 });
  });

  it("keeps the canvas on the device pixel grid at half resolution and on hi-dpi screens", () => {
    const half = canvasArea({ x: 604.3, y: 0, width: 354.7, height: 539 }, viewport, 0.5);
    expect(half.deviceWidth).toBe(178);
    expect(half.x * 0.5).toBe(302);
    expect(half.x + half.width).toBeGreaterThanOrEqual(959);
    const hidpi = canvasArea({ x: 10.3, y: 5.1, width: 100, height: 50 }, viewport, 2);
    expect(hidpi).toEqual({ x: 10, y: 5, width: 100.5, height: 50.5, deviceWidth: 201, deviceHeight: 101 });
  });

  it("keeps one device pixel when the image is panned out of view", () => {
    const a = canvasArea({ x: 2000, y: 0, width: 300, height: 539 }, viewport, 1);
    expect(a.deviceWidth).toBe(1);
    expect(a.deviceHeight).toBe(539);
    expect(a.x).toBeLessThan(959);
  });
});
