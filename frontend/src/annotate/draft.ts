// The reader's working copy of a read: breast assessments and finding boxes. Pure data and
// functions (no DOM, no pixels): the panels render it, the box tools edit boxes through it, the
// autosaver serialises it. Findings carry a stable client `key` so validation messages and the
// selection survive the round trip to the server (new boxes have no server id yet).

import type { Box } from "./boxgeom";
import {
  type BreastBirads,
  type Density,
  type FindingBirads,
  type FindingCategory,
  type RuleCode,
  type Side,
  SIDES,
  isMissingRule,
  missingRules,
  needsFindingBirads,
} from "./vocabulary";

export interface DraftBreast {
  birads: BreastBirads | null;
  density: Density | null;
}

export interface DraftFinding {
  key: string;
  id: number | null;
  imageId: number;
  box: Box;
  categories: FindingCategory[];
  birads: FindingBirads | null;
  sourceFindingId: number | null;
}

/** A length measurement: two original-image points (the server computes its mm). */
export interface DraftMeasurement {
  key: string;
  imageId: number;
  a: { x: number; y: number };
  b: { x: number; y: number };
}

export interface Draft {
  breasts: Record<Side, DraftBreast>;
  findings: DraftFinding[];
  measurements: DraftMeasurement[];
}

export interface Violation {
  rule: RuleCode;
  severity: "error" | "warning";
  message: string;
  field: string | null;
  laterality: Side | null;
  finding: string | number | null;
}

let keySeq = 0;
export function newFindingKey(): string {
  keySeq += 1;
  return `new-${Date.now().toString(36)}-${keySeq}`;
}

/** Measurement keys start with "m-" so one selection can hold a box or a measurement. */
export function newMeasurementKey(): string {
  keySeq += 1;
  return `m-${Date.now().toString(36)}-${keySeq}`;
}

export function emptyDraft(): Draft {
  return { breasts: { R: { birads: null, density: null }, L: { birads: null, density: null } }, findings: [], measurements: [] };
}

/** Stable serialisation for "did anything change since the last save?" checks. */
export function draftFingerprint(d: Draft): string {
  return JSON.stringify({
    b: SIDES.map((s) => [d.breasts[s].birads, d.breasts[s].density]),
    f: d.findings.map((f) => [f.key, f.imageId, f.box, [...f.categories].sort(), f.birads]),
    m: d.measurements.map((m) => [m.key, m.imageId, m.a, m.b]),
  });
}

export function findingByKey(d: Draft, key: string): DraftFinding | undefined {
  return d.findings.find((f) => f.key === key);
}

/** Toggle a category; drop the finding BI-RADS when no remaining category needs one. */
export function toggleCategory(f: DraftFinding, category: FindingCategory): void {
  const i = f.categories.indexOf(category);
  if (i >= 0) f.categories.splice(i, 1);
  else f.categories.push(category);
  if (!needsFindingBirads(f.categories)) f.birads = null;
}

/** The key a violation's `finding` reference points at (server id or client key). */
export function violationFindingKey(d: Draft, ref: string | number | null): string | null {
  if (ref === null || ref === undefined) return null;
  const byKey = d.findings.find((f) => f.key === String(ref));
  if (byKey) return byKey.key;
  const byId = d.findings.find((f) => f.id !== null && String(f.id) === String(ref));
  return byId ? byId.key : null;
}

export interface PlacedViolations {
  /** Per finding key. */
  findings: Map<string, Violation[]>;
  /** Per breast side and field ("birads", "density", or "" for the breast as a whole). */
  breasts: Map<string, Violation[]>;
  /** Violations that concern no field or box in particular. */
  general: Violation[];
}

export function breastSlot(side: Side, field: string | null): string {
  return `${side}:${field ?? ""}`;
}

/** Sort the server's violations to the field or box they concern, so each shows next to it. */
export function placeViolations(d: Draft, violations: readonly Violation[]): PlacedViolations {
  const placed: PlacedViolations = { findings: new Map(), breasts: new Map(), general: [] };
  const push = <K>(m: Map<K, Violation[]>, k: K, v: Violation): void => {
    const list = m.get(k);
    if (list) list.push(v);
    else m.set(k, [v]);
  };
  for (const v of violations) {
    const key = violationFindingKey(d, v.finding);
    if (key) push(placed.findings, key, v);
    else if (v.laterality === "R" || v.laterality === "L") {
      const field = v.field === "birads" || v.field === "density" ? v.field : null;
      push(placed.breasts, breastSlot(v.laterality, field), v);
    } else placed.general.push(v);
  }
  return placed;
}

export interface ImageLabel {
  laterality: string;
  viewPosition: string;
}

export interface SummaryLine {
  side: Side;
  birads: number | null;
  density: string | null;
  findings: { view: string; categories: string[]; birads: number | null }[];
}

/** What the submit dialog lists: per breast the assessment and its findings. */
export function draftSummary(d: Draft, images: ReadonlyMap<number, ImageLabel>): SummaryLine[] {
  return SIDES.map((side) => ({
    side,
    birads: d.breasts[side].birads,
    density: d.breasts[side].density,
    findings: d.findings
      .filter((f) => images.get(f.imageId)?.laterality === side)
      .map((f) => {
        const img = images.get(f.imageId);
        return {
          view: img ? `${img.laterality}${img.viewPosition}` : "?",
          categories: [...f.categories],
          birads: f.birads,
        };
      }),
  }));
}

/**
 * The server's "not filled in yet" rules (served metadata, vocabulary.ts missingRules) applied to
 * the draft, so they show before the server answers. Breasts first, then boxes in order.
 */
export function missingBeforeSubmit(d: Draft): string[] {
  const rules = missingRules();
  const missing: string[] = [];
  for (const side of SIDES) {
    const name = side === "R" ? "Right" : "Left";
    for (const rule of rules) {
      if (rule.missing?.on !== "breast") continue;
      if (rule.missing.field === "birads" && d.breasts[side].birads === null) missing.push(`${name} breast BI-RADS`);
      if (rule.missing.field === "density" && d.breasts[side].density === null) missing.push(`${name} breast density`);
    }
  }
  d.findings.forEach((f, i) => {
    for (const rule of rules) {
      if (rule.missing?.on !== "finding") continue;
      if (rule.missing.field === "categories" && f.categories.length === 0) missing.push(`Categories of box ${i + 1}`);
      if (rule.missing.field === "birads" && needsFindingBirads(f.categories) && f.birads === null) {
        missing.push(`BI-RADS of box ${i + 1}`);
      }
    }
  });
  return missing;
}

/** One thing that blocks submit, with the rule it comes from when the server said so. */
export interface SubmitBlocker {
  text: string;
  rule: string | null;
}

/**
 * Everything that stops a submit right now: the fields not filled in yet (known locally, so
 * they show before the server answers), then the server's other error-severity violations.
 * Warnings never block. The server's "missing" rules say the same as the local list.
 */
export function submitBlockers(d: Draft, violations: readonly Violation[]): SubmitBlocker[] {
  const blockers: SubmitBlocker[] = missingBeforeSubmit(d).map((text) => ({ text: `Missing: ${text}`, rule: null }));
  for (const v of violations) {
    if (v.severity === "error" && !isMissingRule(v.rule)) blockers.push({ text: v.message, rule: v.rule });
  }
  return blockers;
}
