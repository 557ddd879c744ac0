// Current vs prior (P): which view pair is compared and how the prior is labelled. Pure, so the
// choices are unit-tested (priors.test.ts); the read screen does the DOM.

import type { Prior } from "../api/types";
import type { LayerBox } from "../annotate/boxlayer";
import type { LayoutName } from "../viewer";

/** The view pair shown current-over-prior: the CC or MLO layout as it is, else the pair of the
 * view the reader is on (the one under the pointer, or shown alone); CC when none. */
export function comparePair(layout: LayoutName, activeSlot: string | null, focusedSlot: string | null): "cc" | "mlo" {
  if (focusedSlot) return focusedSlot.endsWith("MLO") ? "mlo" : "cc";
  if (layout === "cc" || layout === "mlo") return layout;
  return activeSlot?.endsWith("MLO") ? "mlo" : "cc";
}

/** "2 y 1 mo earlier", "3 mo earlier", "12 days earlier"; "date unknown" without one. */
export function intervalText(days: number | null): string {
  if (days === null) return "date unknown";
  const months = Math.round(days / 30.44);
  if (months < 1) return `${days} day${days === 1 ? "" : "s"} earlier`;
  const years = Math.floor(months / 12);
  const rest = months % 12;
  return `${years ? `${years} y` : ""}${years && rest ? " " : ""}${rest ? `${rest} mo` : ""} earlier`;
}

/** What the prior's label says of its read: the final BI-RADS per breast and the number of
 * findings, or that it is not final (then nothing of it is known here). */
export function priorReadText(prior: Prior): string {
  if (!prior.read_final || !prior.read) return "read not final";
  const birads = ["R", "L"].map((side) => {
    const b = prior.read!.breasts.find((x) => x.laterality === side);
    return `${side} BI-RADS ${b?.birads ?? "—"}`;
  });
  const n = prior.read.findings.length;
  return `final read: ${birads.join(", ")}, ${n} finding${n === 1 ? "" : "s"}`;
}

/** The prior's final-read boxes on one of its images, read-only and in the prior's own colour,
 * labelled like the current read's ("P1. Mass · BI-RADS 4", numbered over the whole read); none
 * while the prior's read is not final (the server sends nothing of it then anyway). */
export function priorBoxes(prior: Prior, imageId: number): LayerBox[] {
  if (!prior.read_final || !prior.read) return [];
  return prior.read.findings.flatMap((f, i) => f.image !== imageId ? [] : [{
    key: `prior:${i}`,
    box: { xmin: f.xmin, ymin: f.ymin, xmax: f.xmax, ymax: f.ymax },
    cls: "box-prior",
    label: `P${i + 1}. ${f.categories.length ? f.categories.join(", ") : "no category"}${f.birads !== null ? ` · BI-RADS ${f.birads}` : ""}`,
    editable: false,
  }]);
}

/** Shift+P: the next older prior, and after the oldest the most recent again. */
export function olderPriorIndex(index: number, count: number): number {
  return count > 0 ? (index + 1) % count : 0;
}

/** A prior in the selector: "1 of 3 · 2 y earlier · final" (most recent first). */
export function priorOptionText(prior: Prior, index: number, count: number): string {
  return `${index + 1} of ${count} · ${intervalText(prior.days_before)} · ${prior.read_final ? "final" : "not final"}`;
}
