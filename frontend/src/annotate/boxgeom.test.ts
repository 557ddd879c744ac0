import { describe, expect, it } from "vitest";
import { boxArea, boxFromPoints, containsPoint, handlePoint, moveBox, placeLabel, resizeBox, roundBox } from "./boxgeom";

const W = 2800;
const H = 3518;

describe("box geometry in image pixels", () => {
  it("spans two points in any drag direction", () => {
    expect(boxFromPoints({ x: 300, y: 400 }, { x: 100, y: 200 }, W, H)).toEqual({ xmin: 100, ymin: 200, xmax: 300, ymax: 400 });
  });

  it("clamps a drawn box inside the image", () => {
    expect(boxFromPoints({ x: -50, y: 10 }, { x: 3000, y: 4000 }, W, H)).toEqual({ xmin: 0, ymin: 10, xmax: W, ymax: H });
  });

  it("moves a box and slides it along the edge instead of leaving the image", () => {
    const b = { xmin: 100, ymin: 100, xmax: 200, ymax: 150 };
    expect(moveBox(b, 10, 20, W, H)).toEqual({ xmin: 110, ymin: 120, xmax: 210, ymax: 170 });
    expect(moveBox(b, -500, 0, W, H)).toEqual({ xmin: 0, ymin: 100, xmax: 100, ymax: 150 });
    expect(moveBox(b, 5000, 5000, W, H)).toEqual({ xmin: W - 100, ymin: H - 50, xmax: W, ymax: H });
  });

  it("resizes by a corner handle and flips when dragged past the opposite edge", () => {
    const b = { xmin: 100, ymin: 100, xmax: 200, ymax: 200 };
    expect(resizeBox(b, "se", { x: 250, y: 260 }, W, H)).toEqual({ xmin: 100, ymin: 100, xmax: 250, ymax: 260 });
    expect(resizeBox(b, "nw", { x: 300, y: 50 }, W, H)).toEqual({ xmin: 200, ymin: 50, xmax: 300, ymax: 200 });
  });

  it("resizes by an edge handle along one axis only", () => {
    const b = { xmin: 100, ymin: 100, xmax: 200, ymax: 200 };
    expect(resizeBox(b, "e", { x: 400, y: 999 }, W, H)).toEqual({ xmin: 100, ymin: 100, xmax: 400, ymax: 200 });
    expect(resizeBox(b, "n", { x: 999, y: 20 }, W, H)).toEqual({ xmin: 100, ymin: 20, xmax: 200, ymax: 200 });
  });

  it("places handles at corners and edge midpoints", () => {
    const b = { xmin: 0, ymin: 0, xmax: 100, ymax: 50 };
    expect(handlePoint(b, "ne")).toEqual({ x: 100, y: 0 });
    expect(handlePoint(b, "s")).toEqual({ x: 50, y: 50 });
    expect(handlePoint(b, "w")).toEqual({ x: 0, y: 25 });
  });

  it("rounds to a tenth of a pixel and measures area", () => {
    expect(roundBox({ xmin: 1.04, ymin: 2.06, xmax: 3.149, ymax: 4.151 })).toEqual({ xmin: 1, ymin: 2.1, xmax: 3.1, ymax: 4.2 });
    expect(boxArea({ xmin: 0, ymin: 0, xmax: 10, ymax: 5 })).toBe(50);
    expect(containsPoint({ xmin: 0, ymin: 0, xmax: 10, ymax: 5 }, { x: 10, y: 5 })).toBe(true);
    expect(containsPoint({ xmin: 0, ymin: 0, xmax: 10, ymax: 5 }, { x: 11, y: 5 })).toBe(false);
  });
});

describe("box labels stay inside the viewport", () => {
  const vp = { width: 400, height: 300 };
  const label = { width: 180, height: 12 };
  it("sits above the box when there is room", () => {
    expect(placeLabel({ x: 50, y: 100, width: 40, height: 40 }, label, vp)).toEqual({ x: 52, y: 96 });
  });
  it("slides left so its end is not cut at the right edge", () => {
    const p = placeLabel({ x: 360, y: 100, width: 30, height: 30 }, label, vp);
    expect(p.x + label.width).toBeLessThanOrEqual(vp.width);
    expect(p.x).toBe(400 - 180 - 2);
  });
  it("goes under a box at the top edge and inside one that fills the viewport", () => {
    expect(placeLabel({ x: 10, y: 5, width: 40, height: 40 }, label, vp).y).toBe(5 + 40 + 14);
    const full = placeLabel({ x: 0, y: 0, width: 400, height: 300 }, label, vp);
    expect(full.y).toBeGreaterThanOrEqual(label.height);
    expect(full.y).toBeLessThanOrEqual(vp.height);
  });
  it("keeps reference-read labels below their box unless that leaves the viewport", () => {
    expect(placeLabel({ x: 10, y: 100, width: 40, height: 40 }, label, vp, 14).y).toBe(154);
    expect(placeLabel({ x: 10, y: 200, width: 40, height: 95 }, label, vp, 14).y).toBe(196);
  });
});
