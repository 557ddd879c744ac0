// The reader's worklist: own assignments with state, project and kind; filters; "read next" (N).

import { ApiError } from "../api/http";
import { api, type WorklistFilters } from "../api/reading";
import type { AssignmentKind, AssignmentState, AssignmentSummary } from "../api/types";
import type { AppContext, Screen } from "./app";
import { clear, formatDate, h, isTyping, shortId } from "./dom";

// One label per value of the API's enums: a value the server adds or drops is a compile error here.
export const STATE_LABELS: Record<AssignmentState, string> = {
  assigned: "Unread",
  in_progress: "In progress",
  submitted: "Submitted",
  reopened: "Reopened",
};
export const KIND_LABELS: Record<AssignmentKind, string> = {
  first: "First read",
  second: "Second read",
  arbitration: "Arbitration",
};

export function assignmentPath(a: { id: number; kind: string }): string {
  return a.kind === "arbitration" ? `/arbitrate/${a.id}/` : `/read/${a.id}/`;
}

export function mountWorklist(ctx: AppContext): Screen {
  ctx.setTitle("Worklist");
  const params = new URLSearchParams(window.location.search);
  const filters: WorklistFilters = {
    state: (params.get("state") as WorklistFilters["state"]) ?? "open",
    project: params.get("project") ?? "",
    kind: (params.get("kind") as WorklistFilters["kind"]) ?? "",
  };
  let nextId: number | null = null;
  let rows: AssignmentSummary[] = [];
  const projects = new Set<string>();

  const stateSelect = h(
    "select",
    { id: "filter-state", "aria-label": "State" },
    h("option", { value: "open" }, "Open (not submitted)"),
    h("option", { value: "" }, "All"),
    ...Object.entries(STATE_LABELS).map(([v, label]) => h("option", { value: v }, label)),
  );
  stateSelect.value = filters.state ?? "open";
  const kindSelect = h(
    "select",
    { id: "filter-kind", "aria-label": "Kind" },
    h("option", { value: "" }, "All kinds"),
    ...Object.entries(KIND_LABELS).map(([v, label]) => h("option", { value: v }, label)),
  );
  kindSelect.value = filters.kind ?? "";
  const projectSelect = h("select", { id: "filter-project", "aria-label": "Project" }, h("option", { value: "" }, "All projects"));
  const nextButton = h(
    "button",
    { class: "btn btn-primary", id: "read-next", type: "button", disabled: true, title: "Open the next unread exam (N)" },
    "Read next exam ",
    h("kbd", {}, "N"),
  );
  const tbody = h("tbody");
  const countLine = h("p", { class: "muted", id: "worklist-count" });
  const error = h("p", { class: "error-banner", role: "alert", hidden: true });
  const submitted = params.get("submitted");
  const notice = submitted
    ? h("p", { class: "notice", role: "status", id: "submitted-notice" }, "Read submitted. ", h("kbd", {}, "N"), " opens the next unread exam.")
    : null;

  const openNext = (): void => {
    if (nextId === null) return;
    const next = rows.find((r) => r.id === nextId);
    ctx.navigate(assignmentPath(next ?? { id: nextId, kind: "first" }));
  };
  nextButton.addEventListener("click", openNext);

  const render = (): void => {
    clear(tbody);
    if (rows.length === 0) {
      tbody.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No assignments match these filters.")));
    }
    rows.forEach((a, i) => {
      const href = assignmentPath(a);
      tbody.append(
        h(
          "tr",
          { class: a.id === nextId ? "row-next" : "", "data-assignment": a.id },
          h("td", {}, i + 1),
          h("td", {}, h("a", { href, "data-link": "", class: "exam-link", title: a.study.study_id }, `Exam ${shortId(a.study.study_id)}`)),
          h("td", {}, a.study.project),
          h("td", {}, KIND_LABELS[a.kind] ?? a.kind),
          h("td", {}, h("span", { class: `pill state-${a.state}` }, STATE_LABELS[a.state] ?? a.state)),
          h("td", {}, String(a.study.image_count)),
          h("td", { class: "muted" }, formatDate(a.submitted_at ?? a.started_at ?? a.created_at)),
        ),
      );
    });
    countLine.textContent = `${rows.length} assignment${rows.length === 1 ? "" : "s"}`;
    nextButton.disabled = nextId === null;
  };

  const load = async (): Promise<void> => {
    const qs = new URLSearchParams();
    if (filters.state !== "open") qs.set("state", filters.state || "all");
    if (filters.project) qs.set("project", filters.project);
    if (filters.kind) qs.set("kind", filters.kind);
    if (submitted) qs.set("submitted", submitted);
    history.replaceState(null, "", qs.toString() ? `/?${qs}` : "/");
    try {
      const page = await api.worklist(filters);
      rows = page.results;
      nextId = page.next_assignment;
      for (const r of rows) projects.add(r.study.project);
      const selected = projectSelect.value || filters.project || "";
      clear(projectSelect);
      projectSelect.append(h("option", { value: "" }, "All projects"), ...[...projects].sort().map((p) => h("option", { value: p }, p)));
      projectSelect.value = selected;
      error.hidden = true;
      render();
    } catch (e) {
      error.hidden = false;
      error.textContent = e instanceof ApiError ? e.message : "Could not load the worklist.";
    }
  };

  for (const [select, key] of [[stateSelect, "state"], [kindSelect, "kind"], [projectSelect, "project"]] as const) {
    select.addEventListener("change", () => {
      (filters as Record<string, string>)[key] = select.value || (key === "state" ? "all" : "");
      void load();
    });
  }
  if (filters.state === "all") stateSelect.value = "";

  const onKey = (e: KeyboardEvent): void => {
    if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "n" || e.key === "N") {
      e.preventDefault();
      openNext();
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp" || e.key === "j" || e.key === "k") {
      // Move between exams; Enter on the focused link opens it.
      const links = [...tbody.querySelectorAll<HTMLAnchorElement>("a.exam-link")];
      if (links.length === 0) return;
      e.preventDefault();
      const at = links.indexOf(document.activeElement as HTMLAnchorElement);
      const step = e.key === "ArrowDown" || e.key === "j" ? 1 : -1;
      links[at < 0 ? 0 : Math.min(links.length - 1, Math.max(0, at + step))]!.focus();
    }
  };
  document.addEventListener("keydown", onKey);

  ctx.main.append(
    h(
      "section",
      { class: "page worklist" },
      h("div", { class: "page-head" }, h("h1", {}, "My worklist"), h("span", { class: "spacer" }), nextButton),
      h(
        "div",
        { class: "filters" },
        h("label", {}, "State ", stateSelect),
        h("label", {}, "Project ", projectSelect),
        h("label", {}, "Kind ", kindSelect),
        countLine,
      ),
      notice,
      error,
      h(
        "table",
        { class: "table", id: "worklist" },
        h(
          "thead",
          {},
          h("tr", {}, ...["#", "Exam", "Project", "Kind", "State", "Images", "Last activity"].map((t) => h("th", { scope: "col" }, t))),
        ),
        tbody,
      ),
      h("p", { class: "muted small" }, "Exam date is not shown: exams are de-identified. ", h("kbd", {}, "N"), " opens the next unread exam; ", h("kbd", {}, "↑"), h("kbd", {}, "↓"), " move between exams, ", h("kbd", {}, "Enter"), " opens one."),
    ),
  );
  void load();
  return { destroy: () => document.removeEventListener("keydown", onKey) };
}
