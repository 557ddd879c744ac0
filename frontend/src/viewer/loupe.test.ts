import { describe, expect, it } from "vitest";
import { loupeDeviceRect, loupeMap, loupeRect, nextLoupeFactor, resizeLoupe, LOUPE_MAX_SIZE, LOUPE_MIN_SIZE } from "./loupe";

const apply = (m: { sx: number; ox: number; sy: number; oy: number }, p: { x: number; y: number }) => ({ x: p.x * m.sx + m.ox, y: p.y * m.sy + m.oy });

describe("loupe map", () => {
  const view = { sx: 5, ox: 100, sy: 5, oy: 40 }; // 5 image px per CSS px
  it("keeps the image point under the pointer and magnifies around it", () => {
    const pointer = { x: 200, y: 150 };
    const m = loupeMap(view, pointer, 4);
    expect(apply(m, pointer)).toEqual(apply(view, pointer));
    // 10 CSS px to the right in the loupe = 10 * 5 / 4 image px.
    const right = apply(m, { x: 210, y: 150 });
    expect(right.x - apply(view, pointer).x).toBeCloseTo(12.5);
    expect(m.sx).toBeCloseTo(1.25);
  });
  it("keeps mirroring", () => {
    const mirrored = { sx: -2, ox: 3000, sy: 2, oy: 0 };
    const m = loupeMap(mirrored, { x: 50, y: 50 }, 2);
    expect(m.sx).toBe(-1);
    expect(apply(m, { x: 50, y: 50 })).toEqual(apply(mirrored, { x: 50, y: 50 }));
  });
});

describe("loupe rectangles", () => {
  it("centres the square on the pointer", () => {
    expect(loupeRect({ x: 100, y: 80 }, 40)).toEqual({ x: 80, y: 60, width: 40, height: 40 });
  });
  it("clips to the canvas in device pixels", () => {
    expect(loupeDeviceRect({ x: -10, y: 20, width: 40, height: 40 }, 2, { width: 1000, height: 100 })).toEqual({ x: 0, y: 40, width: 60, height: 60 });
    expect(loupeDeviceRect({ x: 600, y: 0, width: 40, height: 40 }, 1, { width: 500, height: 500 })).toBeNull();
  });
});

describe("loupe controls", () => {
  it("cycles off -> 2x -> 4x -> off", () => {
    expect(nextLoupeFactor(null)).toBe(2);
    expect(nextLoupeFactor(2)).toBe(4);
    expect(nextLoupeFactor(4)).toBeNull();
  });
  it("resizes within bounds", () => {
    expect(resizeLoupe({ factor: 2, size: 200 }, 40).size).toBe(240);
    expect(resizeLoupe({ factor: 2, size: 200 }, -1000).size).toBe(LOUPE_MIN_SIZE);
    expect(resizeLoupe({ factor: 2, size: 200 }, 1000).size).toBe(LOUPE_MAX_SIZE);
  });
});
