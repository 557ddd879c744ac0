// Domain types of the reading API (docs/api.md). schema-check.ts proves at compile time that the
// generated OpenAPI types (schema.d.ts, from `manage.py spectacular`) still fit these, so a
// server change that breaks a screen fails `npm run build`.

import type { ImageInfo } from "../viewer";
import type { Violation } from "../annotate/draft";

export type { ImageInfo, Violation };

export type AssignmentKind = "first" | "second" | "arbitration";
export type AssignmentState = "assigned" | "in_progress" | "submitted" | "reopened";

export interface UserRef {
  id: number;
  username: string;
}

export interface AssignmentSummary {
  id: number;
  kind: AssignmentKind;
  state: AssignmentState;
  version: number;
  study: { id: number; study_id: string; project: string; state: string | null; image_count: number };
  created_at: string;
  started_at: string | null;
  submitted_at: string | null;
  active_seconds?: number;
  reader?: UserRef | null;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface WorklistPage extends Page<AssignmentSummary> {
  next_assignment: number | null;
}

export interface ApiBreast {
  laterality: "R" | "L";
  birads: number | null;
  density: string | null;
}

export interface ApiFinding {
  id: number | null;
  key: string;
  image: number;
  laterality?: "R" | "L";
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
  categories: string[];
  birads: number | null;
  source_finding: number | null;
}

export interface ApiMeasurement {
  key: string;
  image: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  /** Computed by the server from the image's spacing; null without one. */
  length_mm?: number | null;
  spacing_source?: string;
}

export interface ApiRead {
  id: number;
  origin: string;
  breasts: ApiBreast[];
  findings: ApiFinding[];
  measurements: ApiMeasurement[];
}

export interface DiscordanceReason {
  rule: string;
  laterality: "R" | "L" | null;
  a: unknown;
  b: unknown;
  finding_a: number | null;
  finding_b: number | null;
  image: number | null;
  message: string;
}

export interface AssignmentDetail {
  id: number;
  kind: AssignmentKind;
  state: AssignmentState;
  version: number;
  study: {
    id: number;
    study_id: string;
    project: string;
    state: string | null;
    patient_age: number | null;
    patient_sex: string;
    has_standard_views: boolean;
  };
  images: ImageInfo[];
  read: ApiRead;
  violations: Violation[];
  read_a: ApiRead | null;
  read_b: ApiRead | null;
  discordance_reasons: DiscordanceReason[];
  /** Admins only: whose assignment this is. */
  reader?: UserRef | null;
  /** Active reading time recorded so far (s), and the project's idle threshold (s). */
  active_seconds: number;
  idle_after_seconds: number;
}

/** An earlier exam of the same (keyed) patient: images always, its read only once final. */
export interface Prior {
  study: { id: number; study_id: string; patient_age: number | null; has_standard_views: boolean };
  /** Days between the prior and the current exam; null when either has no date. */
  days_before: number | null;
  read_final: boolean;
  read: { breasts: ApiBreast[]; findings: Pick<ApiFinding, "image" | "laterality" | "xmin" | "ymin" | "xmax" | "ymax" | "categories" | "birads">[] } | null;
  images: ImageInfo[];
}

export interface ReadSaveBody {
  version: number;
  breasts: ApiBreast[];
  findings: Omit<ApiFinding, "laterality">[];
  measurements?: Omit<ApiMeasurement, "length_mm" | "spacing_source">[];
  /** The screen's total active reading time of this read (s). */
  active_seconds?: number;
}

export interface ReadSaveResponse {
  version: number;
  state: AssignmentState;
  read: ApiRead;
  warnings: Violation[];
}

export interface SubmitResponse extends AssignmentSummary {
  outcome: "submitted" | "final";
}

export interface ProgressReport {
  project: string;
  studies: Record<string, number>;
  assignments: Record<string, number>;
  readers: ({ id: number; username: string } & Record<string, number | string | null>)[];
}

export interface AgreementStats {
  n: number;
  observed_agreement: number | null;
  kappa: number | null;
  kappa_linear: number | null;
  kappa_quadratic: number | null;
  ac1: number | null;
}

export interface Agreement {
  exams: number;
  discordant: number;
  discordance_rate: number | null;
  reasons: Record<string, number>;
  birads: AgreementStats;
  density: AgreementStats;
  boxes: { matched: number; unmatched_a: number; unmatched_b: number; mean_iou: number | null };
}

export interface AgreementReport {
  project: string;
  overall: Agreement;
  pairs: ({ reader_a: UserRef; reader_b: UserRef } & Agreement)[];
}
