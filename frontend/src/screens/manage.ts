// Admin screens: links to the Django admin pages that serve (projects, import batches, the
// de-identification review grid, assignment, exports), and the reading API's progress per reader
// and agreement report for a project.

import { ApiError } from "../api/http";
import { api } from "../api/reading";
import type { Agreement, AgreementStats } from "../api/types";
import type { AppContext, Screen } from "./app";
import { clear, h } from "./dom";
import { formatDuration } from "../annotate/activetime";

const ADMIN_LINKS: [string, string, string][] = [
  ["/admin/studies/project/", "Projects", "Create projects and edit their discordance rules"],
  ["/admin/studies/importbatch/", "Import batches", "Progress and per-file result of each import"],
  ["/admin/studies/image/review/", "De-identification review", "Thumbnails with masked corners; mark images reviewed in bulk"],
  ["/admin/studies/study/", "Exams", "Exam states; release complete exams for reading"],
  ["/admin/reading/assignment/assign/", "Assign exams", "Double reading in bulk, with the arbiter pool"],
  ["/admin/reading/assignment/", "Assignments", "Every assignment; reopen submitted reads"],
  ["/admin/reading/auditevent/", "Audit trail", "Append-only record of every change"],
  ["/admin/datasets/export/", "Exports", "Dataset exports (CSV, split, statistics) and their files"],
  ["/admin/auth/user/", "Users", "Accounts and roles (groups)"],
  ["/api/docs/", "API documentation", "OpenAPI schema and Swagger UI"],
];

const fmt = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined ? "—" : v.toFixed(digits));

function statsRow(name: string, s: AgreementStats): HTMLElement {
  return h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, s.n), h("td", {}, fmt(s.observed_agreement)), h("td", {}, fmt(s.kappa)),
    h("td", {}, fmt(s.kappa_linear)), h("td", {}, fmt(s.kappa_quadratic)), h("td", {}, fmt(s.ac1)));
}

function agreementBlock(title: string, a: Agreement): HTMLElement {
  return h(
    "div",
    { class: "card" },
    h("h3", {}, title),
    h("p", {}, `${a.exams} exams double-read, ${a.discordant} discordant (${a.discordance_rate === null ? "—" : `${(a.discordance_rate * 100).toFixed(1)}%`}).`),
    h("table", { class: "table compact" },
      h("thead", {}, h("tr", {}, ...["", "n", "Agreement", "Kappa", "Linear κ", "Quadratic κ", "AC1"].map((t) => h("th", {}, t)))),
      h("tbody", {}, statsRow("Breast BI-RADS", a.birads), statsRow("Density", a.density))),
    h("p", { class: "small" }, `Boxes: ${a.boxes.matched} matched, ${a.boxes.unmatched_a} only in A, ${a.boxes.unmatched_b} only in B, mean IoU ${fmt(a.boxes.mean_iou)}.`),
    Object.keys(a.reasons).length
      ? h("p", { class: "small muted" }, "Reasons: ", Object.entries(a.reasons).map(([k, v]) => `${k} ${v}`).join(", "))
      : null,
  );
}

export function mountManage(ctx: AppContext, _section: string): Screen {
  ctx.setTitle("Manage");
  const page = h("section", { class: "page manage" });
  ctx.main.append(page);
  if (!ctx.isAdmin) {
    page.append(h("h1", {}, "Manage"), h("p", { class: "empty", role: "alert" }, "Only admins can manage projects."));
    return { destroy: () => undefined };
  }
  const slugInput = h("input", { type: "text", id: "project-slug", value: new URLSearchParams(location.search).get("project") ?? "demo", "aria-label": "Project slug" });
  const load = h("button", { type: "submit", class: "btn btn-primary" }, "Show");
  const reports = h("div", { class: "reports", id: "reports" });

  const show = async (): Promise<void> => {
    const slug = slugInput.value.trim();
    history.replaceState(null, "", `/manage/?project=${encodeURIComponent(slug)}`);
    clear(reports);
    reports.append(h("p", { class: "muted" }, "Loading…"));
    try {
      const [progress, agreement] = await Promise.all([api.progress(slug), api.agreement(slug)]);
      clear(reports);
      const states = (rec: Record<string, number>): HTMLElement =>
        h("ul", { class: "counts" }, ...Object.entries(rec).map(([k, v]) => h("li", {}, h("strong", {}, v), ` ${k.replace("_", " ")}`)));
      const readerCols = ["assigned", "in_progress", "submitted", "reopened", "arbitration"] as const;
      reports.append(
        h("div", { class: "card" }, h("h3", {}, "Exams by state"), states(progress.studies), h("h3", {}, "Assignments by state"), states(progress.assignments)),
        h("div", { class: "card progress-readers" }, h("h3", {}, "Progress per reader"),
          h("table", { class: "table compact", id: "progress-table" },
            h("thead", {}, h("tr", {}, h("th", {}, "Reader"), ...readerCols.map((c) => h("th", {}, c.replace("_", " "))),
              h("th", { title: "Active reading time of submitted reads (focus and input; idle pauses excluded)" }, "reading time"),
              h("th", { title: "Mean active reading time per submitted read" }, "per read"))),
            h("tbody", {}, ...progress.readers.map((r) => h("tr", { "data-reader": r.username }, h("th", { scope: "row" }, r.username),
              ...readerCols.map((c) => h("td", {}, String(r[c] ?? 0))),
              h("td", { class: "reading-time" }, formatDuration(Number(r.submitted_active_seconds ?? 0))),
              h("td", { class: "reading-time-mean" }, r.mean_active_seconds === null || r.mean_active_seconds === undefined ? "—" : formatDuration(Number(r.mean_active_seconds)))))))),
        agreementBlock("Agreement (all reader pairs)", agreement.overall),
        ...agreement.pairs.map((p) => agreementBlock(`${p.reader_a.username} vs ${p.reader_b.username}`, p)),
      );
    } catch (e) {
      clear(reports);
      reports.append(h("p", { class: "error-banner", role: "alert" }, e instanceof ApiError && e.status === 404 ? `No project "${slug}".` : "Could not load the reports."));
    }
  };
  const form = h("form", { class: "filters" }, h("label", {}, "Project ", slugInput), load);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void show();
  });
  page.append(
    h("h1", {}, "Manage"),
    h("div", { class: "card links" }, h("h3", {}, "Administration"),
      h("ul", { class: "admin-links", id: "admin-links" }, ...ADMIN_LINKS.map(([href, label, what]) => h("li", {}, h("a", { href }, label), h("span", { class: "muted small" }, ` — ${what}`))))),
    h("h2", {}, "Project reports"),
    form,
    reports,
  );
  void show();
  return { destroy: () => undefined };
}
