// Typed calls of the reading API (docs/api.md). Screens import these, never `fetch`.

import { request } from "./http";
import type {
  AgreementReport,
  AssignmentDetail,
  AssignmentState,
  ProgressReport,
  ReadSaveBody,
  ReadSaveResponse,
  SubmitResponse,
  WorklistPage,
} from "./types";

export interface WorklistFilters {
  /** An assignment state, "open" (not submitted), or "" / "all" for every state. */
  state?: AssignmentState | "open" | "all" | "";
  project?: string;
  kind?: string;
  page?: number;
}

export const api = {
  worklist: (f: WorklistFilters = {}): Promise<WorklistPage> =>
    request<WorklistPage>("GET", "/api/worklist/", undefined, {
      page_size: 200,
      ...f,
      state: f.state === "all" ? "" : f.state,
    }),
  assignment: (id: number): Promise<AssignmentDetail> =>
    request<AssignmentDetail>("GET", `/api/assignments/${id}/`),
  saveRead: (id: number, body: ReadSaveBody): Promise<ReadSaveResponse> =>
    request<ReadSaveResponse>("PUT", `/api/assignments/${id}/read/`, body),
  submit: (id: number, version: number): Promise<SubmitResponse> =>
    request<SubmitResponse>("POST", `/api/assignments/${id}/submit/`, { version }),
  progress: (slug: string): Promise<ProgressReport> =>
    request<ProgressReport>("GET", `/api/projects/${encodeURIComponent(slug)}/progress/`),
  agreement: (slug: string): Promise<AgreementReport> =>
    request<AgreementReport>("GET", `/api/projects/${encodeURIComponent(slug)}/agreement/`),
};
