import { describe, expect, it } from "vitest";
import { buildPyramid, firstLevelWithin, halve, toGray16, valueRange } from "./pyramid";

describe("halve", () => {
  it("averages 2x2 blocks with rounding", () => {
    const level = { width: 4, height: 2, data: Uint16Array.from([0, 2, 10, 11, 4, 6, 12, 65535]) };
    const half = halve(level);
    expect(half.width).toBe(2);
    expect(half.height).toBe(1);
    expect(Array.from(half.data)).toEqual([3, Math.round((10 + 11 + 12 + 65535) / 4)]);
  });

  it("follows WebGL's mip sizes for odd dimensions (floor, never below 1)", () => {
    const level = { width: 5, height: 1, data: new Uint16Array(5).fill(100) };
    const half = halve(level);
    expect([half.width, half.height]).toEqual([2, 1]);
    expect(Array.from(half.data)).toEqual([100, 100]);
  });
});

describe("buildPyramid", () => {
  it("halves down to the minimum side and keeps the base level first", () => {
    const base = { width: 1000, height: 600, data: new Uint16Array(1000 * 600).fill(7) };
    const levels = buildPyramid(base, 64);
    expect(levels[0]).toBe(base);
    expect(levels.map((l) => [l.width, l.height])).toEqual([
      [1000, 600],
      [500, 300],
      [250, 150],
      [125, 75],
      [62, 37],
    ]);
    expect(levels.every((l) => l.data.every((v) => v === 7))).toBe(true);
  });
});

describe("firstLevelWithin", () => {
  const levels = [20000, 10000, 5000].map((width) => ({ width, height: width / 2, data: new Uint16Array(0) }));

  it("uses the full resolution when it fits the GPU", () => {
    expect(firstLevelWithin([{ width: 4000, height: 3000, data: new Uint16Array(0) }], 8192)).toBe(0);
  });

  it("skips levels larger than MAX_TEXTURE_SIZE", () => {
    expect(firstLevelWithin(levels, 16384)).toBe(1);
    expect(firstLevelWithin(levels, 8192)).toBe(2);
  });
});

describe("valueRange and toGray16", () => {
  it("finds the stored value range", () => {
    expect(valueRange(Uint16Array.from([300, 12, 65000, 40]))).toEqual({ min: 12, max: 65000 });
  });

  it("takes the first channel of an RGBA image", () => {
    expect(Array.from(toGray16(Uint8Array.from([1, 9, 9, 255, 2, 9, 9, 255]), 4))).toEqual([1, 2]);
  });
});
