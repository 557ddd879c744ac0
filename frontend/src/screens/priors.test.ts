import { describe, expect, it } from "vitest";

import type { Prior } from "../api/types";
import { comparePair, intervalText, olderPriorIndex, priorBoxes, priorOptionText, priorReadText } from "./priors";

const prior = (read: Prior["read"], final = read !== null): Prior => ({
  study: { id: 1, study_id: "ab".repeat(16), patient_age: 50, has_standard_views: true },
  days_before: 731,
  read_final: final,
  read,
  images: [],
});

describe("comparePair", () => {
  it("keeps a CC or MLO layout and otherwise follows the view the reader is on", () => {
    expect(comparePair("cc", "RMLO", null)).toBe("cc");
    expect(comparePair("mlo", null, null)).toBe("mlo");
    expect(comparePair("four", "LMLO", null)).toBe("mlo");
    expect(comparePair("four", "RCC", null)).toBe("cc");
    expect(comparePair("four", null, null)).toBe("cc");
    expect(comparePair("cc", null, "RMLO")).toBe("mlo");
  });
});

describe("prior label", () => {
  it("gives the interval in years and months, or days under a month", () => {
    expect(intervalText(731)).toBe("2 y earlier");
    expect(intervalText(400)).toBe("1 y 1 mo earlier");
    expect(intervalText(92)).toBe("3 mo earlier");
    expect(intervalText(1)).toBe("1 day earlier");
    expect(intervalText(null)).toBe("date unknown");
  });

  it("shows a final read's BI-RADS and findings, and nothing of a read not final", () => {
    const read: Prior["read"] = {
      breasts: [
        { laterality: "R", birads: 1, density: "B" },
        { laterality: "L", birads: 4, density: "B" },
      ],
      findings: [],
    };
    expect(priorReadText(prior(read))).toBe("final read: R BI-RADS 1, L BI-RADS 4, 0 findings");
    expect(priorReadText(prior(null))).toBe("read not final");
  });
});

describe("prior boxes", () => {
  const read: Prior["read"] = {
    breasts: [],
    findings: [
      { image: 7, laterality: "L", xmin: 10, ymin: 20, xmax: 30, ymax: 40, categories: ["Mass"], birads: 4 },
      { image: 8, laterality: "R", xmin: 1, ymin: 2, xmax: 3, ymax: 4, categories: ["Suspicious Calcification", "Asymmetry"], birads: null },
      { image: 7, laterality: "L", xmin: 50, ymin: 60, xmax: 70, ymax: 80, categories: [], birads: null },
    ],
  };

  it("draws a final read's boxes on their own image, read-only, numbered over the read", () => {
    const boxes = priorBoxes(prior(read), 7);
    expect(boxes.map((b) => [b.label, b.box, b.editable, b.cls])).toEqual([
      ["P1. Mass · BI-RADS 4", { xmin: 10, ymin: 20, xmax: 30, ymax: 40 }, false, "box-prior"],
      ["P3. no category", { xmin: 50, ymin: 60, xmax: 70, ymax: 80 }, false, "box-prior"],
    ]);
    expect(priorBoxes(prior(read), 8).map((b) => b.label)).toEqual(["P2. Suspicious Calcification, Asymmetry"]);
    expect(priorBoxes(prior(read), 9)).toEqual([]);
  });

  it("draws nothing of a read that is not final", () => {
    expect(priorBoxes(prior(read, false), 7)).toEqual([]);
    expect(priorBoxes(prior(null), 7)).toEqual([]);
  });
});

describe("stepping to older priors", () => {
  it("goes to the next older prior and from the oldest back to the most recent", () => {
    expect([0, 1, 2].map((i) => olderPriorIndex(i, 3))).toEqual([1, 2, 0]);
    expect(olderPriorIndex(0, 1)).toBe(0);
  });

  it("names each prior in the selector by its place, interval and whether its read is final", () => {
    expect(priorOptionText(prior(null), 1, 3)).toBe("2 of 3 · 2 y earlier · not final");
  });
});
