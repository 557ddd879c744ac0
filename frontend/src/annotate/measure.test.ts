import { describe, expect, it } from "vitest";
import { boxSizeLabel, boxSizeMm, clampPoint, distanceToSegment, lengthLabel, lengthMm } from "./measure";

describe("lengths in mm", () => {
  it("uses the column spacing for x and the row spacing for y", () => {
    expect(lengthMm({ x: 0, y: 0 }, { x: 10, y: 0 }, [0.2, 0.1])).toBeCloseTo(1);
    expect(lengthMm({ x: 0, y: 0 }, { x: 0, y: 10 }, [0.2, 0.1])).toBeCloseTo(2);
    expect(lengthMm({ x: 0, y: 0 }, { x: 30, y: 40 }, [0.1, 0.1])).toBeCloseTo(5);
  });
  it("has no length in mm without a usable spacing", () => {
    expect(lengthMm({ x: 0, y: 0 }, { x: 3, y: 4 }, null)).toBeNull();
    expect(lengthMm({ x: 0, y: 0 }, { x: 3, y: 4 }, [0, 0.1])).toBeNull();
    expect(lengthLabel({ x: 0, y: 0 }, { x: 30, y: 40 }, null, null)).toBe("50 px (no spacing)");
  });
  it("says 'at detector' only for ImagerPixelSpacing", () => {
    expect(lengthLabel({ x: 0, y: 0 }, { x: 300, y: 400 }, [0.07, 0.07], "ImagerPixelSpacing")).toBe("35.0 mm at detector");
    expect(lengthLabel({ x: 0, y: 0 }, { x: 300, y: 400 }, [0.07, 0.07], "PixelSpacing")).toBe("35.0 mm");
    expect(lengthLabel({ x: 0, y: 0 }, { x: 3000, y: 0 }, [0.07, 0.07], "PixelSpacing")).toBe("210 mm");
  });
});

describe("box sizes in mm", () => {
  it("is width x height whatever the corner order", () => {
    expect(boxSizeMm({ xmin: 10, ymin: 20, xmax: 110, ymax: 70 }, [0.2, 0.1])).toEqual({ width: 10, height: 10 });
    expect(boxSizeLabel({ xmin: 0, ymin: 0, xmax: 100, ymax: 50 }, [0.1, 0.1], "ImagerPixelSpacing")).toBe("10.0 × 5.0 mm at detector");
    expect(boxSizeLabel({ xmin: 0, ymin: 0, xmax: 100, ymax: 50 }, null, null)).toBeNull();
  });
});

describe("hit testing and clamping", () => {
  it("measures the distance to a segment, not its line", () => {
    expect(distanceToSegment({ x: 5, y: 3 }, { x: 0, y: 0 }, { x: 10, y: 0 })).toBeCloseTo(3);
    expect(distanceToSegment({ x: 14, y: 3 }, { x: 0, y: 0 }, { x: 10, y: 0 })).toBeCloseTo(5);
  });
  it("keeps points on the image", () => {
    expect(clampPoint({ x: -3, y: 900 }, 100, 800)).toEqual({ x: 0, y: 800 });
  });
});
