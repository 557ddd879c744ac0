// Current vs prior (P): which view pair is compared and how the prior is labelled. Pure, so the
// choices are unit-tested (priors.test.ts); the read screen does the DOM.

import type { Prior } from "../api/types";
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
