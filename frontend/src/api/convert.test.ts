import { describe, expect, it } from "vitest";
import { draftFromRead, saveBodyFromDraft } from "./convert";
import type { ApiRead } from "./types";

const read: ApiRead = {
  id: 7,
  origin: "reader",
  breasts: [
    { laterality: "R", birads: 1, density: "B" },
    { laterality: "L", birads: 4, density: null },
  ],
  findings: [
    { id: 31, key: "c-1", image: 12, laterality: "L", xmin: 100, ymin: 200.5, xmax: 180, ymax: 260, categories: ["Mass"], birads: 4, source_finding: null },
    { id: 32, key: "", image: 12, laterality: "L", xmin: 1, ymin: 2, xmax: 3, ymax: 4, categories: ["Skin Thickening"], birads: null, source_finding: 9 },
  ],
  measurements: [{ key: "m-1", image: 12, x1: 10, y1: 20, x2: 30.5, y2: 40, length_mm: 2.1, spacing_source: "ImagerPixelSpacing" }],
};

describe("read <-> draft", () => {
  it("round-trips the API read through the draft into a save body", () => {
    const d = draftFromRead(read);
    expect(d.breasts.L).toEqual({ birads: 4, density: null });
    expect(d.findings[1]?.key).toBe("f32");
    const body = saveBodyFromDraft(d, 5);
    expect(body.version).toBe(5);
    expect(body.breasts.map((b) => b.laterality)).toEqual(["R", "L"]);
    expect(body.findings[0]).toEqual({ key: "c-1", id: 31, image: 12, xmin: 100, ymin: 200.5, xmax: 180, ymax: 260, categories: ["Mass"], birads: 4, source_finding: null });
    expect(body.findings[1]?.source_finding).toBe(9);
    // Measurements go back as their endpoints only: the server computes the mm.
    expect(body.measurements).toEqual([{ key: "m-1", image: 12, x1: 10, y1: 20, x2: 30.5, y2: 40 }]);
  });
});
