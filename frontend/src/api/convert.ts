// Between the API's read shape and the editor's draft. Pure; unit-tested.

import type { Draft, DraftFinding } from "../annotate/draft";
import { emptyDraft } from "../annotate/draft";
import type { ApiRead, ReadSaveBody } from "./types";

export function draftFromRead(read: ApiRead): Draft {
  const d = emptyDraft();
  for (const b of read.breasts) d.breasts[b.laterality] = { birads: b.birads, density: b.density };
  d.findings = read.findings.map(
    (f): DraftFinding => ({
      key: f.key || `f${f.id}`,
      id: f.id,
      imageId: f.image,
      box: { xmin: f.xmin, ymin: f.ymin, xmax: f.xmax, ymax: f.ymax },
      categories: [...f.categories],
      birads: f.birads,
      sourceFindingId: f.source_finding,
    }),
  );
  d.measurements = (read.measurements ?? []).map((m) => ({
    key: m.key,
    imageId: m.image,
    a: { x: m.x1, y: m.y1 },
    b: { x: m.x2, y: m.y2 },
  }));
  return d;
}

export function saveBodyFromDraft(d: Draft, version: number): ReadSaveBody {
  return {
    version,
    breasts: (["R", "L"] as const).map((laterality) => ({
      laterality,
      birads: d.breasts[laterality].birads,
      density: d.breasts[laterality].density,
    })),
    findings: d.findings.map((f) => ({
      key: f.key,
      id: f.id,
      image: f.imageId,
      ...f.box,
      categories: [...f.categories],
      birads: f.birads,
      source_finding: f.sourceFindingId,
    })),
    measurements: d.measurements.map((m) => ({ key: m.key, image: m.imageId, x1: m.a.x, y1: m.a.y, x2: m.b.x, y2: m.b.y })),
  };
}
