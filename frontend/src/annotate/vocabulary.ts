// The reading vocabulary of SPEC.md ("Reading vocabulary"). The server's rules are the authority;
// the client uses this to build pickers and to hint before the server answers.

export const FINDING_CATEGORIES = [
  "Mass",
  "Suspicious Calcification",
  "Asymmetry",
  "Focal Asymmetry",
  "Global Asymmetry",
  "Architectural Distortion",
  "Suspicious Lymph Node",
  "Skin Thickening",
  "Skin Retraction",
  "Nipple Retraction",
] as const;
export type FindingCategory = (typeof FINDING_CATEGORIES)[number];

/** Categories for which a finding BI-RADS (3-5) is required; absent for the others. */
export const CATEGORIES_NEEDING_BIRADS: ReadonlySet<string> = new Set([
  "Mass",
  "Suspicious Calcification",
  "Asymmetry",
  "Focal Asymmetry",
  "Global Asymmetry",
  "Architectural Distortion",
]);

export const BREAST_BIRADS = [0, 1, 2, 3, 4, 5] as const;
export const FINDING_BIRADS = [3, 4, 5] as const;
export const DENSITIES = ["A", "B", "C", "D"] as const;
export type Density = (typeof DENSITIES)[number];
export type Side = "R" | "L";
export const SIDES: readonly Side[] = ["R", "L"];
export const SIDE_NAMES: Record<Side, string> = { R: "Right breast", L: "Left breast" };

export const BIRADS_MEANING: Record<number, string> = {
  0: "Incomplete: needs additional imaging",
  1: "Negative",
  2: "Benign",
  3: "Probably benign",
  4: "Suspicious",
  5: "Highly suggestive of malignancy",
};

/** Keyboard digit (1-9, then 0) that toggles each category on the selected box. */
export function categoryShortcut(index: number): string {
  return index === 9 ? "0" : String(index + 1);
}

export function categoryForDigit(digit: string): FindingCategory | null {
  const index = digit === "0" ? 9 : Number(digit) - 1;
  return Number.isInteger(index) && index >= 0 && index < FINDING_CATEGORIES.length
    ? FINDING_CATEGORIES[index]!
    : null;
}

export function needsFindingBirads(categories: readonly string[]): boolean {
  return categories.some((c) => CATEGORIES_NEEDING_BIRADS.has(c));
}
