// Calls of the reading API (docs/api.md), typed by the OpenAPI schema (see typed.ts). Screens
// import these, never `fetch`.

import { call, conform } from "./typed";
import type {
  AgreementReport,
  AssignmentDetail,
  AssignmentKind,
  AssignmentState,
  Prior,
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
  kind?: AssignmentKind | "";
  page?: number;
}

// Answers typed by the schema alone are returned as they are; `conform` checks the ones a screen
// reads through a client-side type (the viewer's images, the editor's violations).
export const api = {
  worklist: (f: WorklistFilters = {}): Promise<WorklistPage> =>
    call("get", "/api/worklist/", { query: { page_size: 200, ...f, state: f.state === "all" ? "" : f.state } }),
  assignment: async (id: number): Promise<AssignmentDetail> =>
    conform<AssignmentDetail>()(await call("get", "/api/assignments/{assignment_id}/", { path: { assignment_id: id } })),
  priors: async (id: number): Promise<Prior[]> =>
    conform<Prior[]>()(await call("get", "/api/assignments/{assignment_id}/priors/", { path: { assignment_id: id } })),
  saveRead: async (id: number, body: ReadSaveBody): Promise<ReadSaveResponse> =>
    conform<ReadSaveResponse>()(
      await call("put", "/api/assignments/{assignment_id}/read/", { path: { assignment_id: id }, body }),
    ),
  submit: (id: number, version: number, activeSeconds?: number): Promise<SubmitResponse> =>
    call("post", "/api/assignments/{assignment_id}/submit/", {
      path: { assignment_id: id },
      body: { version, ...(activeSeconds !== undefined ? { active_seconds: activeSeconds } : {}) },
    }),
  progress: (slug: string): Promise<ProgressReport> => call("get", "/api/projects/{slug}/progress/", { path: { slug } }),
  agreement: (slug: string): Promise<AgreementReport> =>
    call("get", "/api/projects/{slug}/agreement/", { path: { slug } }),
};
