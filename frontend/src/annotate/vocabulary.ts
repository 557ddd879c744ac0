// The reading vocabulary of SPEC.md ("Reading vocabulary"), as the server serves it once in the
// page's boot JSON (apps/reading/rules.py client_vocabulary): the server's rules are the
// authority, the client builds its pickers and pre-submit hints from what it was given. The value
// types are the API schema's enums (schema.d.ts), so the draft holds only values the API names.

import type { components } from "../api/schema";

type Schemas = components["schemas"];
export type Side = Schemas["LateralityEnum"];
export type BreastBirads = Schemas["BreastBiradsEnum"];
export type FindingBirads = Schemas["FindingBiradsEnum"];
export type Density = Schemas["DensityEnum"];
export type FindingCategory = Schemas["FindingCategoryEnum"];
export type RuleCode = Schemas["RuleCodeEnum"];

/** A rule's client-visible metadata; `missing` marks rules that only say "not filled in yet". */
export interface RuleInfo {
  code: RuleCode;
  severity: "error" | "warning";
  rejects_save: boolean;
  missing: { on: "breast" | "finding"; field: "birads" | "density" | "categories" } | null;
}

export interface Vocabulary {
  finding_categories: FindingCategory[];
  categories_requiring_birads: FindingCategory[];
  breast_birads: BreastBirads[];
  finding_birads: FindingBirads[];
  densities: Density[];
  rules: RuleInfo[];
}

// Filled in place by installVocabulary() at start-up, before any screen is built.
export const FINDING_CATEGORIES: FindingCategory[] = [];
/** Categories for which a finding BI-RADS (3-5) is required; absent for the others. */
export const CATEGORIES_NEEDING_BIRADS = new Set<string>();
export const BREAST_BIRADS: BreastBirads[] = [];
export const FINDING_BIRADS: FindingBirads[] = [];
export const DENSITIES: Density[] = [];
const RULES = new Map<string, RuleInfo>();

export function installVocabulary(v: Vocabulary): void {
  FINDING_CATEGORIES.splice(0, FINDING_CATEGORIES.length, ...v.finding_categories);
  CATEGORIES_NEEDING_BIRADS.clear();
  for (const c of v.categories_requiring_birads) CATEGORIES_NEEDING_BIRADS.add(c);
  BREAST_BIRADS.splice(0, BREAST_BIRADS.length, ...v.breast_birads);
  FINDING_BIRADS.splice(0, FINDING_BIRADS.length, ...v.finding_birads);
  DENSITIES.splice(0, DENSITIES.length, ...v.densities);
  RULES.clear();
  for (const rule of v.rules) RULES.set(rule.code, rule);
}

/** The rules that only say a field is not filled in yet, in the server's order. */
export function missingRules(): RuleInfo[] {
  return [...RULES.values()].filter((r) => r.missing !== null);
}

/** True for a violation the screen already lists itself as "Missing: ..." (see missingRules). */
export function isMissingRule(code: string): boolean {
  return RULES.get(code)?.missing != null;
}

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
