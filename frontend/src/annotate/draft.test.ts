import { describe, expect, it } from "vitest";
import { type Draft, draftFingerprint, draftSummary, emptyDraft, missingBeforeSubmit, placeViolations, submitBlockers, toggleCategory, type Violation } from "./draft";
import { categoryForDigit, categoryShortcut, FINDING_CATEGORIES, installVocabulary, needsFindingBirads, type Vocabulary } from "./vocabulary";
import served from "../testing/served-vocabulary.json";

function draftWithBox(): Draft {
  const d = emptyDraft();
  d.findings.push({ key: "k1", id: 31, imageId: 12, box: { xmin: 1, ymin: 2, xmax: 30, ymax: 40 }, categories: ["Mass"], birads: 4, sourceFindingId: null });
  return d;
}

const v = (over: Partial<Violation>): Violation => ({ rule: "BOX_ON_BACKGROUND", severity: "error", message: "m", field: null, laterality: null, finding: null, ...over });

describe("reading draft", () => {
  it("places each violation next to the box or breast field it concerns", () => {
    const d = draftWithBox();
    const placed = placeViolations(d, [
      v({ rule: "NO_FINDING_ON_BIRADS_1", finding: "k1" }),
      v({ rule: "FINDING_BIRADS_REQUIRED", finding: 31 }),
      v({ rule: "BREAST_DENSITY_REQUIRED", laterality: "L", field: "density" }),
      v({ rule: "BREAST_BIRADS_BELOW_FINDING", laterality: "R", field: null, severity: "warning" }),
      v({ rule: "FINDING_IMAGE_NOT_IN_EXAM" }),
    ]);
    expect(placed.findings.get("k1")?.map((x) => x.rule)).toEqual(["NO_FINDING_ON_BIRADS_1", "FINDING_BIRADS_REQUIRED"]);
    expect(placed.breasts.get("L:density")?.[0]?.rule).toBe("BREAST_DENSITY_REQUIRED");
    expect(placed.breasts.get("R:")?.[0]?.rule).toBe("BREAST_BIRADS_BELOW_FINDING");
    expect(placed.general.map((x) => x.rule)).toEqual(["FINDING_IMAGE_NOT_IN_EXAM"]);
  });

  it("drops the finding BI-RADS when no remaining category needs one", () => {
    const f = draftWithBox().findings[0]!;
    toggleCategory(f, "Skin Thickening");
    expect(f.birads).toBe(4);
    toggleCategory(f, "Mass");
    expect(f.categories).toEqual(["Skin Thickening"]);
    expect(f.birads).toBeNull();
  });

  it("fingerprint ignores server ids but sees every edit", () => {
    const a = draftWithBox();
    const b = draftWithBox();
    b.findings[0]!.id = 99;
    expect(draftFingerprint(a)).toBe(draftFingerprint(b));
    b.breasts.R.density = "C";
    expect(draftFingerprint(a)).not.toBe(draftFingerprint(b));
  });

  it("summarises per breast with the view of each box", () => {
    const d = draftWithBox();
    d.breasts.L = { birads: 4, density: "B" };
    const s = draftSummary(d, new Map([[12, { laterality: "L", viewPosition: "CC" }]]));
    expect(s[0]).toEqual({ side: "R", birads: null, density: null, findings: [] });
    expect(s[1]?.findings).toEqual([{ view: "LCC", categories: ["Mass"], birads: 4 }]);
  });

  it("lists what is still missing before submit", () => {
    const d = draftWithBox();
    d.findings[0]!.birads = null;
    d.breasts.R = { birads: 1, density: "A" };
    expect(missingBeforeSubmit(d)).toEqual(["Left breast BI-RADS", "Left breast density", "BI-RADS of box 1"]);
  });

  it("asks only for what the served rules mark as missing, and lets the server's other codes block", () => {
    const vocabulary = served as Vocabulary;
    const d = draftWithBox();
    d.findings[0]!.birads = null;
    try {
      installVocabulary({ ...vocabulary, rules: vocabulary.rules.map((r) => (r.code === "FINDING_BIRADS_REQUIRED" ? { ...r, missing: null } : r)) });
      expect(missingBeforeSubmit(d)).not.toContain("BI-RADS of box 1");
      const blockers = submitBlockers(d, [v({ rule: "FINDING_BIRADS_REQUIRED", finding: "k1", message: "box 1 needs a BI-RADS" })]);
      expect(blockers.map((b) => b.rule)).toContain("FINDING_BIRADS_REQUIRED");
    } finally {
      installVocabulary(vocabulary);
    }
    expect(missingBeforeSubmit(d)).toContain("BI-RADS of box 1");
  });

  it("maps digits 1-9 and 0 to the ten categories and knows which need a BI-RADS", () => {
    expect(FINDING_CATEGORIES.map((_, i) => categoryShortcut(i)).join("")).toBe("1234567890");
    expect(categoryForDigit("1")).toBe("Mass");
    expect(categoryForDigit("0")).toBe("Nipple Retraction");
    expect(needsFindingBirads(["Skin Retraction", "Suspicious Lymph Node"])).toBe(false);
    expect(needsFindingBirads(["Skin Retraction", "Focal Asymmetry"])).toBe(true);
  });
});

describe("submit blockers", () => {
  it("lists missing fields and server errors, never warnings, and is empty when the read is complete", () => {
    const d = draftWithBox();
    const errors = [
      v({ rule: "NO_FINDING_ON_BIRADS_1", finding: "k1", message: "no box on BI-RADS 1" }),
      v({ rule: "BREAST_BIRADS_REQUIRED", laterality: "R", message: "dup of the local list" }),
      v({ rule: "BOX_ON_BACKGROUND", severity: "warning", finding: "k1", message: "on background" }),
    ];
    const blockers = submitBlockers(d, errors);
    expect(blockers.filter((b) => b.rule === null).map((b) => b.text)).toEqual([
      "Missing: Right breast BI-RADS", "Missing: Right breast density", "Missing: Left breast BI-RADS", "Missing: Left breast density"]);
    expect(blockers.filter((b) => b.rule !== null)).toEqual([{ text: "no box on BI-RADS 1", rule: "NO_FINDING_ON_BIRADS_1" }]);
    for (const side of ["R", "L"] as const) d.breasts[side] = { birads: 4, density: "B" };
    expect(submitBlockers(d, errors.slice(2))).toEqual([]);
  });
});
