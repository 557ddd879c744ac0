// Calls of the reading API (docs/api.md), typed by the OpenAPI schema (see typed.ts). Screens
// import these, never `fetch`.

import { asBody, call, conform } from "./typed";
import type { components } from "./schema";
import type {
  AgreementReport,
  AssignmentDetail,
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
  kind?: string;
  page?: number;
}

type Schemas = components["schemas"];

export const api = {
  worklist: async (f: WorklistFilters = {}): Promise<WorklistPage> =>
    conform<WorklistPage>()(
      await call("get", "/api/worklist/", {
        query: { page_size: 200, ...f, state: f.state === "all" ? "" : f.state },
      }),
    ),
  assignment: async (id: number): Promise<AssignmentDetail> =>
    conform<AssignmentDetail>()(await call("get", "/api/assignments/{assignment_id}/", { path: { assignment_id: id } })),
  priors: async (id: number): Promise<Prior[]> =>
    conform<Prior[]>()(await call("get", "/api/assignments/{assignment_id}/priors/", { path: { assignment_id: id } })),
  saveRead: async (id: number, body: ReadSaveBody): Promise<ReadSaveResponse> =>
    conform<ReadSaveResponse>()(
      await call("put", "/api/assignments/{assignment_id}/read/", {
        path: { assignment_id: id },
        body: asBody<Schemas["ReadSaveInput"]>()(body),
      }),
    ),
  submit: async (id: number, version: number, activeSeconds?: number): Promise<SubmitResponse> =>
    conform<SubmitResponse>()(
      await call("post", "/api/assignments/{assignment_id}/submit/", {
        path: { assignment_id: id },
        body: { version, ...(activeSeconds !== undefined ? { active_seconds: activeSeconds } : {}) },
      }),
    ),
  progress: async (slug: string): Promise<ProgressReport> =>
    conform<ProgressReport>()(await call("get", "/api/projects/{slug}/progress/", { path: { slug } })),
  agreement: async (slug: string): Promise<AgreementReport> =>
    conform<AgreementReport>()(await call("get", "/api/projects/{slug}/agreement/", { path: { slug } })),
};
