// The reading form: one panel per breast (BI-RADS 0-5, density A-D), the editor of the selected
// box (categories, finding BI-RADS) and the list of boxes. It edits the Draft and knows nothing
// about pixels or the viewer; rule messages from the server appear next to what they concern.

import { h, clear } from "../screens/dom";
import { type Draft, type DraftFinding, type DraftMeasurement, type PlacedViolations, type Violation, breastSlot, toggleCategory } from "./draft";
import {
  BIRADS_MEANING,
  BREAST_BIRADS,
  DENSITIES,
  FINDING_BIRADS,
  FINDING_CATEGORIES,
  SIDES,
  SIDE_NAMES,
  type Side,
  categoryShortcut,
  needsFindingBirads,
} from "./vocabulary";

export interface PanelOptions {
  viewName: (imageId: number) => string;
  sideOf: (imageId: number) => Side | null;
  onChange: () => void;
  onSelect: (key: string | null) => void;
  onDelete: (key: string) => void;
  /** Extra lines under each breast (arbitration: what read A and B said). */
  breastNote?: (side: Side) => Node | null;
  /** A box's width x height in mm ("12.3 × 8.1 mm at detector"), null without a spacing. */
  boxSize?: (f: DraftFinding) => string | null;
  /** A measurement's length label; with onDeleteMeasurement, the panel lists measurements. */
  measurementLabel?: (m: DraftMeasurement) => string;
  onDeleteMeasurement?: (key: string) => void;
}

function messages(list: readonly Violation[] | undefined, id?: string): HTMLElement | null {
  if (!list || list.length === 0) return null;
  return h(
    "ul",
    { class: "violations", ...(id ? { id } : {}) },
    ...list.map((v) =>
      h("li", { class: `violation ${v.severity}`, "data-rule": v.rule }, v.severity === "error" ? "✖ " : "⚠ ", v.message),
    ),
  );
}

export function findingLabel(f: DraftFinding, index: number): string {
  const cats = f.categories.length ? f.categories.join(", ") : "no category";
  return `${index + 1}. ${cats}${f.birads !== null ? ` · BI-RADS ${f.birads}` : ""}`;
}

export class ReadingPanel {
  readonly el: HTMLElement;
  private draft: Draft;
  private selected: string | null = null;
  private placed: PlacedViolations = { findings: new Map(), breasts: new Map(), general: [] };
  private readOnly = false;

  constructor(
    draft: Draft,
    private readonly opts: PanelOptions,
  ) {
    this.draft = draft;
    this.el = h("div", { class: "reading-panel" });
    this.render();
  }

  update(state: { draft?: Draft; selected?: string | null; placed?: PlacedViolations; readOnly?: boolean }): void {
    if (state.draft !== undefined) this.draft = state.draft;
    if (state.selected !== undefined) this.selected = state.selected;
    if (state.placed !== undefined) this.placed = state.placed;
    if (state.readOnly !== undefined) this.readOnly = state.readOnly;
    this.render();
  }

  private radioGroup<T extends string | number>(
    name: string,
    label: string,
    values: readonly T[],
    current: T | null,
    onPick: (v: T) => void,
    titles?: (v: T) => string,
    disabled = false,
  ): HTMLElement {
    return h(
      "fieldset",
      { class: "choice", id: `${name}-group` },
      h("legend", {}, label),
      ...values.map((v) => {
        const input = h("input", {
          type: "radio",
          name,
          value: String(v),
          id: `${name}-${v}`,
          checked: current === v,
          disabled: disabled || this.readOnly,
        });
        input.addEventListener("change", () => onPick(v));
        return h("label", { class: "chip", for: `${name}-${v}`, title: titles ? titles(v) : "" }, input, h("span", {}, String(v)));
      }),
    );
  }

  private render(): void {
    const scrollTop = this.el.scrollTop;
    // Re-rendering replaces the inputs: keep the keyboard focus where the reader had it.
    const active = document.activeElement;
    const focusId = active instanceof HTMLElement && this.el.contains(active) ? active.id : "";
    clear(this.el);
    for (const side of SIDES) this.el.append(this.breastSection(side));
    this.el.append(this.findingsSection());
    if (this.opts.measurementLabel) this.el.append(this.measurementsSection());
    const general = messages(this.placed.general);
    if (general) this.el.append(h("section", { class: "panel-section" }, h("h3", {}, "Other messages"), general));
    this.el.scrollTop = scrollTop;
    if (focusId) document.getElementById(focusId)?.focus();
  }

  private breastSection(side: Side): HTMLElement {
    const b = this.draft.breasts[side];
    const whole = messages(this.placed.breasts.get(breastSlot(side, null)));
    return h(
      "section",
      { class: `panel-section breast breast-${side}`, id: `breast-${side}`, "aria-label": SIDE_NAMES[side] },
      h("h3", {}, SIDE_NAMES[side], h("span", { class: "side-tag" }, side)),
      this.radioGroup(`birads-${side}`, "BI-RADS", BREAST_BIRADS, b.birads, (v) => {
        b.birads = v;
        this.opts.onChange();
      }, (v) => `BI-RADS ${v}: ${BIRADS_MEANING[v]}`),
      messages(this.placed.breasts.get(breastSlot(side, "birads")), `violations-birads-${side}`),
      this.radioGroup(`density-${side}`, "Density", DENSITIES, b.density, (v) => {
        b.density = v;
        this.opts.onChange();
      }),
      messages(this.placed.breasts.get(breastSlot(side, "density")), `violations-density-${side}`),
      whole,
      this.opts.breastNote?.(side) ?? null,
    );
  }

  private findingsSection(): HTMLElement {
    const list = h("ol", { class: "finding-list", id: "finding-list" });
    this.draft.findings.forEach((f, i) => {
      const problems = this.placed.findings.get(f.key);
      const hasError = problems?.some((v) => v.severity === "error");
      const item = h(
        "li",
        { class: `finding-item${f.key === this.selected ? " selected" : ""}${problems ? (hasError ? " has-error" : " has-warning") : ""}`, "data-key": f.key },
        h(
          "button",
          { type: "button", class: "finding-select", "aria-pressed": f.key === this.selected ? "true" : "false" },
          h("span", { class: "view-tag" }, this.opts.viewName(f.imageId)),
          " ",
          findingLabel(f, i).replace(/^\d+\. /, `Box ${i + 1}: `),
          ...this.sizeOf(f),
        ),
      );
      item.querySelector("button")!.addEventListener("click", () => this.opts.onSelect(f.key === this.selected ? null : f.key));
      list.append(item);
      if (f.key === this.selected) list.append(h("li", { class: "finding-editor-row" }, this.findingEditor(f, i)));
    });
    return h(
      "section",
      { class: "panel-section findings" },
      h("h3", {}, "Findings", h("span", { class: "count" }, String(this.draft.findings.length))),
      this.draft.findings.length === 0
        ? h("p", { class: "muted small" }, "No boxes. Press ", h("kbd", {}, "B"), " and drag on an image to mark a finding.")
        : list,
    );
  }

  private sizeOf(f: DraftFinding): HTMLElement[] {
    const size = this.opts.boxSize?.(f);
    return size ? [h("span", { class: "finding-size", "data-size": f.key }, size)] : [];
  }

  private measurementsSection(): HTMLElement {
    const label = this.opts.measurementLabel!;
    const list = h("ul", { class: "measurement-list", id: "measurement-list" });
    this.draft.measurements.forEach((m, i) => {
      const del = h("button", { type: "button", class: "btn btn-small", "data-delete-measurement": m.key, disabled: this.readOnly, title: "Delete this measurement (select it, Del)" }, "×");
      del.addEventListener("click", () => this.opts.onDeleteMeasurement?.(m.key));
      const pick = h("button", { type: "button", class: "finding-select", "aria-pressed": m.key === this.selected ? "true" : "false" },
        h("span", { class: "view-tag" }, this.opts.viewName(m.imageId)), ` L${i + 1}: `, h("span", { class: "measurement-length" }, label(m)));
      pick.addEventListener("click", () => this.opts.onSelect(m.key === this.selected ? null : m.key));
      list.append(h("li", { class: m.key === this.selected ? "selected" : "", "data-key": m.key }, pick, del));
    });
    return h(
      "section",
      { class: "panel-section measurements" },
      h("h3", {}, "Measurements", h("span", { class: "count" }, String(this.draft.measurements.length))),
      this.draft.measurements.length === 0
        ? h("p", { class: "muted small" }, "None. Press ", h("kbd", {}, "D"), " and drag on an image to measure a length.")
        : list,
    );
  }

  private findingEditor(f: DraftFinding, index: number): HTMLElement {
    const problems = this.placed.findings.get(f.key);
    const needBirads = needsFindingBirads(f.categories);
    const cats = h(
      "fieldset",
      { class: "categories", id: "finding-categories" },
      h("legend", {}, "Categories"),
      ...FINDING_CATEGORIES.map((c, i) => {
        const input = h("input", { type: "checkbox", value: c, id: `cat-${i}`, checked: f.categories.includes(c), disabled: this.readOnly });
        input.addEventListener("change", () => {
          toggleCategory(f, c);
          this.opts.onChange();
        });
        return h("label", { class: "check", for: `cat-${i}` }, input, h("span", {}, c), h("kbd", {}, categoryShortcut(i)));
      }),
    );
    const birads = this.radioGroup(
      `finding-birads`,
      needBirads ? "Finding BI-RADS (required)" : "Finding BI-RADS (not for this category)",
      FINDING_BIRADS,
      f.birads,
      (v) => {
        f.birads = v;
        this.opts.onChange();
      },
      (v) => `BI-RADS ${v}: ${BIRADS_MEANING[v]} (Shift+${v})`,
      !needBirads,
    );
    const del = h("button", { type: "button", class: "btn btn-danger btn-small", id: "delete-finding", disabled: this.readOnly, title: "Delete this box (Del)" }, "Delete box");
    del.addEventListener("click", () => this.opts.onDelete(f.key));
    return h(
      "div",
      { class: "finding-editor", id: "finding-editor", "aria-label": `Box ${index + 1}` },
      cats,
      birads,
      messages(problems, "finding-violations"),
      h("div", { class: "row" }, h("span", { class: "muted small" }, this.opts.sideOf(f.imageId) === "R" ? "Right breast" : "Left breast"), h("span", { class: "spacer" }), del),
    );
  }
}
