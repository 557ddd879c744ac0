// The reading screen (and, with mode "arbitrate", the arbitration screen): the four-view hanging
// layout from the viewer, the box tools of the annotation layer on every view, the reading form,
// autosave with a visible state, submit with a summary, keyboard shortcuts with a help overlay.

import { ApiError } from "../api/http";
import { api } from "../api/reading";
import { draftFromRead, saveBodyFromDraft } from "../api/convert";
import type { ApiFinding, ApiRead, AssignmentDetail, DiscordanceReason, Prior } from "../api/types";
import { Autosaver, type SaveState, StaleVersion } from "../annotate/autosave";
import { ActiveTime } from "../annotate/activetime";
import { BoxLayer, type LayerBox, type Tool } from "../annotate/boxlayer";
import type { Box, Point } from "../annotate/boxgeom";
import { boxSizeLabel, lengthLabel } from "../annotate/measure";
import { type LayerLine, MeasureLayer } from "../annotate/measurelayer";
import {
  type Draft,
  type Violation,
  draftFingerprint,
  draftSummary,
  missingBeforeSubmit,
  submitBlockers,
  newFindingKey,
  newMeasurementKey,
  placeViolations,
  toggleCategory,
} from "../annotate/draft";
import { ReadingPanel, findingLabel } from "../annotate/panel";
import { FINDING_BIRADS, type Side, categoryForDigit, isMissingRule as isMissingRuleCode, needsFindingBirads } from "../annotate/vocabulary";
import {
  FIT_MODE_NAMES,
  HangingLayout,
  LOUPE_DEFAULT,
  nextFitMode,
  nextLoupeFactor,
  resizeLoupe,
  type ImageInfo,
  type Interaction,
  type LayoutName,
  type LoupeSpec,
  type Viewport,
} from "../viewer";
import type { AppContext, Screen } from "./app";
import { clear, h, isTyping, shortId } from "./dom";
import { openHelp, shortcuts } from "./help";
import { comparePair, intervalText, olderPriorIndex, priorBoxes, priorOptionText, priorReadText } from "./priors";
import { assignmentPath } from "./worklist";

const SAVE_LABELS: Record<SaveState, string> = {
  saved: "All changes saved",
  unsaved: "Unsaved changes…",
  saving: "Saving…",
  conflict: "Conflict: changed elsewhere",
  error: "Not saved: retrying on next change",
};

/** Rules that only say "you have not filled this in yet" (served metadata): shown after a submit attempt. */
const isMissingRule = (v: Violation): boolean => isMissingRuleCode(v.rule);

type Mode = "read" | "arbitrate";

export function mountReadScreen(ctx: AppContext, assignmentId: number, mode: Mode): Screen {
  const screen = new ReadScreen(ctx, assignmentId, mode);
  void screen.start();
  return screen;
}

class ReadScreen implements Screen {
  private detail: AssignmentDetail | null = null;
  private draft: Draft | null = null;
  private selected: string | null = null;
  private violations: Violation[] = [];
  private submitAttempted = false;
  private tool: Tool = "select";
  private layout: HangingLayout | null = null;
  /** The patient's earlier exams (most recent first), asked for while the current one opens. */
  private priors: Promise<Prior[]> = Promise.resolve([]);
  /** Current vs prior (P): the most recent prior's pair hung below the current pair. */
  private compare: {
    layout: HangingLayout;
    layers: BoxLayer[];
    host: HTMLElement;
    before: LayoutName | "one";
    /** Which of the priors (most recent first) is shown. */
    index: number;
    label: HTMLElement;
    select: HTMLSelectElement | null;
  } | null = null;
  private priorsButton: HTMLButtonElement | null = null;
  private readonly layers = new Map<number, BoxLayer>();
  private readonly measureLayers = new Map<number, MeasureLayer>();
  private saver: Autosaver | null = null;
  private panel: ReadingPanel | null = null;
  private images = new Map<number, ImageInfo>();
  private showA = true;
  private showB = true;
  private showOwn = true;
  private destroyed = false;
  private invert = false;

  private readonly root: HTMLElement;
  private readonly toolbar: HTMLElement;
  private readonly viewerHost: HTMLElement;
  private readonly side: HTMLElement;
  private readonly status: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly onKey = (e: KeyboardEvent): void => this.key(e);
  /** Active reading time of this read (started when the exam is shown, if it is editable). */
  private timer: ActiveTime | null = null;
  private readonly onActivity = (): void => this.timer?.activity(performance.now());
  private readonly onBlur = (): void => this.timer?.blur(performance.now());
  private readonly onFocus = (): void => this.timer?.focus(performance.now());
  private readonly onVisibility = (): void => (document.hidden ? this.onBlur() : this.onFocus());
  private static readonly ACTIVITY_EVENTS = ["pointerdown", "pointermove", "keydown", "wheel"] as const;

  constructor(
    private readonly ctx: AppContext,
    private readonly assignmentId: number,
    private readonly mode: Mode,
  ) {
    this.toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Viewer tools" });
    this.viewerHost = h("div", { class: "viewer-host", id: "viewer" });
    this.side = h("aside", { class: "side-panel", "aria-label": "Reading form" });
    this.status = h("span", { class: "save-status", id: "save-status", role: "status", "data-state": "saved" });
    this.banner = h("div", { class: "banner", id: "banner", role: "alert", hidden: true });
    this.root = h(
      "section",
      { class: `read-screen mode-${mode}` },
      this.toolbar,
      h("div", { class: "read-body" }, h("div", { class: "viewer-column" }, this.banner, this.viewerHost), this.side),
    );
    ctx.main.append(this.root);
    ctx.main.classList.add("main-full");
    document.addEventListener("keydown", this.onKey);
    for (const type of ReadScreen.ACTIVITY_EVENTS) document.addEventListener(type, this.onActivity, { passive: true, capture: true });
    window.addEventListener("blur", this.onBlur);
    window.addEventListener("focus", this.onFocus);
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  private activeSeconds(): number | undefined {
    return this.timer ? this.timer.totalSeconds(performance.now()) : undefined;
  }

  async start(): Promise<void> {
    this.side.append(h("p", { class: "muted" }, "Loading exam…"));
    let detail: AssignmentDetail;
    try {
      detail = await api.assignment(this.assignmentId);
    } catch (e) {
      clear(this.side);
      this.root.classList.add("failed");
      const notFound = e instanceof ApiError && e.status === 404;
      this.viewerHost.append(
        h(
          "div",
          { class: "empty big", id: "load-error", role: "alert" },
          h("h2", {}, notFound ? "Assignment not found" : "Could not open this exam"),
          h("p", {}, notFound ? "This assignment does not exist or is not yours." : e instanceof Error ? e.message : ""),
          h("a", { href: "/", "data-link": "", class: "btn" }, "Back to the worklist"),
        ),
      );
      return;
    }
    if (this.destroyed) return;
    const expected: Mode = detail.kind === "arbitration" ? "arbitrate" : "read";
    if (expected !== this.mode) {
      // /read/<id> of an arbitration (or the reverse): show the right address; the screen
      // follows the assignment's kind, not the URL.
      history.replaceState(null, "", assignmentPath(detail));
      this.root.classList.replace(`mode-${this.mode}`, `mode-${expected}`);
    }
    this.detail = detail;
    this.ctx.setTitle(`${detail.kind === "arbitration" ? "Arbitrate" : "Read"} exam ${shortId(detail.study.study_id)}`);
    this.images = new Map(detail.images.map((i) => [i.id, i]));
    this.draft = draftFromRead(detail.read);
    this.violations = detail.violations;
    if (!this.readOnly) {
      this.timer = new ActiveTime(detail.idle_after_seconds * 1000, detail.active_seconds);
      this.timer.activity(performance.now());
      this.viewerHost.dataset.timing = "on";
    }
    this.saver = new Autosaver(
      {
        delayMs: 800,
        save: (_fp, version) => this.save(version),
        onState: (state, d) => this.showSaveState(state, d.conflict ?? null),
      },
      draftFingerprint(this.draft),
      detail.version,
    );
    // Priors cost nothing until P: the list is fetched now, the images only when shown.
    this.priors = api.priors(this.assignmentId).catch(() => []);
    this.buildToolbar();
    void this.priors.then((priors) => {
      if (!this.priorsButton) return;
      this.priorsButton.disabled = priors.length === 0;
      this.priorsButton.dataset.priors = String(priors.length);
      if (priors.length === 0) this.priorsButton.title = "No earlier exam of this patient in the project";
    });
    this.buildSide();
    this.showSaveState("saved", null);
    this.layout = new HangingLayout(this.viewerHost, detail.images);
    this.layout.setInteraction("windowLevel");
    // Hung views exist now; extra views get a viewport when the reader opens their thumbnail.
    for (const image of detail.images) {
      const vp = this.layout.viewportForImage(image.id);
      if (vp) this.attachLayer(vp, image);
    }
    this.layout.onViewportCreated((vp, image) => this.attachLayer(vp, image));
    // The browser tests (tests/web) read the viewer's own image<->screen mapping through this.
    (window as unknown as { __mammolab?: { layout: HangingLayout } }).__mammolab = { layout: this.layout };
    await this.layout.ready;
    this.viewerHost.setAttribute("data-ready", "true");
  }

  /** Submitted, or an admin looking at someone else's assignment (only the holder may write). */
  private get readOnly(): boolean {
    return this.detail?.state === "submitted" || this.notHolder;
  }

  private get notHolder(): boolean {
    const holder = this.detail?.reader;
    return Boolean(holder && holder.id !== this.ctx.boot.user.id);
  }

  // ---- viewer + boxes ------------------------------------------------------------------------

  private attachLayer(vp: Viewport, image: ImageInfo): void {
    if (this.layers.has(image.id)) return;
    const layer = new BoxLayer(vp, {
      columns: image.columns,
      rows: image.rows,
      boxes: () => this.boxesFor(image.id),
      selected: () => this.selected,
      tool: () => this.tool,
      readOnly: () => this.readOnly || this.saver?.current === "conflict",
      onSelect: (key) => this.select(key),
      onCreate: (box) => this.createFinding(image.id, box),
      onChange: (key, box) => this.moveFinding(key, box),
      onCommit: () => this.changed(),
    });
    this.layers.set(image.id, layer);
    // After the box layer: its capture listener runs first and claims presses on boxes.
    this.measureLayers.set(image.id, new MeasureLayer(vp, {
      columns: image.columns,
      rows: image.rows,
      lines: () => this.linesFor(image.id),
      selected: () => this.selected,
      active: () => this.tool === "measure",
      readOnly: () => this.readOnly || this.saver?.current === "conflict",
      preview: (a, b) => this.lengthText(image.id, a, b),
      onSelect: (key) => this.select(key),
      onCreate: (a, b) => this.createMeasurement(image.id, a, b),
    }));
  }

  /** "23.4 mm at detector" from the image's own spacing (the server stores the same figure). */
  private lengthText(imageId: number, a: Point, b: Point): string {
    const image = this.images.get(imageId);
    return lengthLabel(a, b, image?.pixel_spacing, image?.pixel_spacing_source);
  }

  private boxSizeText(imageId: number, box: Box): string | null {
    const image = this.images.get(imageId);
    return boxSizeLabel(box, image?.pixel_spacing, image?.pixel_spacing_source);
  }

  private linesFor(imageId: number): LayerLine[] {
    const out: LayerLine[] = [];
    const detail = this.detail;
    if (!detail || !this.draft) return out;
    const ref = (read: ApiRead | null, tag: "a" | "b", show: boolean): void => {
      if (!read || !show) return;
      for (const m of read.measurements ?? []) {
        if (m.image !== imageId) continue;
        const a = { x: m.x1, y: m.y1 };
        const b = { x: m.x2, y: m.y2 };
        out.push({ key: `${tag}:${m.key}`, a, b, cls: `meas-${tag}`, label: `${tag.toUpperCase()}: ${this.lengthText(imageId, a, b)}`, editable: false });
      }
    };
    ref(detail.read_a, "a", this.showA);
    ref(detail.read_b, "b", this.showB);
    if (this.showOwn) {
      for (const m of this.draft.measurements) {
        if (m.imageId === imageId) out.push({ key: m.key, a: m.a, b: m.b, cls: "meas-own", label: this.lengthText(imageId, m.a, m.b), editable: true });
      }
    }
    return out;
  }

  private createMeasurement(imageId: number, a: Point, b: Point): void {
    if (!this.draft || this.readOnly) return;
    const round = (p: Point): Point => ({ x: Math.round(p.x * 100) / 100, y: Math.round(p.y * 100) / 100 });
    const key = newMeasurementKey();
    this.draft.measurements.push({ key, imageId, a: round(a), b: round(b) });
    this.selected = key;
    this.changed();
  }

  private deleteMeasurement(key: string): void {
    if (!this.draft || this.readOnly) return;
    this.draft.measurements = this.draft.measurements.filter((m) => m.key !== key);
    if (this.selected === key) this.selected = null;
    this.changed();
  }

  private boxesFor(imageId: number): LayerBox[] {
    const out: LayerBox[] = [];
    const detail = this.detail;
    if (!detail || !this.draft) return out;
    const placed = placeViolations(this.draft, this.visibleViolations());
    const ref = (read: ApiRead | null, tag: "a" | "b", show: boolean): void => {
      if (!read || !show) return;
      read.findings.forEach((f, i) => {
        if (f.image !== imageId) return;
        out.push({
          key: `${tag}:${f.id}`,
          box: { xmin: f.xmin, ymin: f.ymin, xmax: f.xmax, ymax: f.ymax },
          cls: `box-${tag}`,
          label: `${tag.toUpperCase()}${i + 1} ${f.categories.join(", ")}${f.birads ? ` ${f.birads}` : ""}`,
          editable: false,
        });
      });
    };
    ref(detail.read_a, "a", this.showA);
    ref(detail.read_b, "b", this.showB);
    if (this.showOwn) {
      this.draft.findings.forEach((f, i) => {
        if (f.imageId !== imageId) return;
        const problems = placed.findings.get(f.key);
        const error = problems?.find((v) => v.severity === "error") ?? problems?.[0];
        out.push({
          key: f.key,
          box: f.box,
          cls: detail.kind === "arbitration" ? "box-final" : "box-own",
          label: findingLabel(f, i),
          editable: true,
          problem: error ? error.message : null,
        });
      });
    }
    return out;
  }

  private renderBoxes(): void {
    for (const layer of this.layers.values()) layer.render();
    for (const layer of this.measureLayers.values()) layer.render();
  }

  private select(key: string | null): void {
    this.selected = key;
    this.renderBoxes();
    this.renderPanel();
  }

  private createFinding(imageId: number, box: Box): void {
    if (!this.draft) return;
    const key = newFindingKey();
    this.draft.findings.push({ key, id: null, imageId, box, categories: [], birads: null, sourceFindingId: null });
    this.selected = key;
    this.setTool("select");
    this.changed();
    // The reader goes on with categories: focus the first checkbox for keyboard use.
    document.getElementById("cat-0")?.focus({ preventScroll: true });
  }

  private moveFinding(key: string, box: Box): void {
    const f = this.draft?.findings.find((x) => x.key === key);
    if (!f) return;
    f.box = box;
    this.renderBoxes();
  }

  private deleteFinding(key: string): void {
    if (!this.draft || this.readOnly) return;
    this.draft.findings = this.draft.findings.filter((f) => f.key !== key);
    if (this.selected === key) this.selected = null;
    this.changed();
  }

  private adopt(f: ApiFinding): void {
    if (!this.draft || this.readOnly) return;
    const key = newFindingKey();
    this.draft.findings.push({
      key,
      id: null,
      imageId: f.image,
      box: { xmin: f.xmin, ymin: f.ymin, xmax: f.xmax, ymax: f.ymax },
      categories: [...f.categories],
      birads: f.birads,
      sourceFindingId: f.id,
    });
    this.selected = key;
    this.changed();
  }

  // ---- state changes, autosave ---------------------------------------------------------------

  private changed(): void {
    if (!this.draft || !this.saver) return;
    this.renderBoxes();
    this.renderPanel();
    if (!this.readOnly) this.saver.changed(draftFingerprint(this.draft));
  }

  private async save(version: number): Promise<{ version: number }> {
    const draft = this.draft!;
    try {
      const active = this.activeSeconds();
      const res = await api.saveRead(this.assignmentId, {
        ...saveBodyFromDraft(draft, version),
        ...(active !== undefined ? { active_seconds: active } : {}),
      });
      // New findings got server ids: keep them, matched by our key, so the next save updates them.
      const ids = new Map(res.read.findings.map((f) => [f.key, f.id]));
      for (const f of draft.findings) f.id = ids.get(f.key) ?? f.id;
      if (this.detail) {
        this.detail.state = res.state;
        this.detail.version = res.version;
      }
      this.violations = res.warnings;
      this.renderBoxes();
      this.renderPanel();
      return { version: res.version };
    } catch (e) {
      if (e instanceof ApiError && e.code === "stale_version") {
        throw new StaleVersion(Number(e.extra.current_version), e.extra.read);
      }
      if (e instanceof ApiError && e.code === "validation_failed") {
        // Mechanical rules (box outside the image, ...): nothing was saved; show where.
        this.violations = (e.extra.violations as Violation[]) ?? [];
        this.renderBoxes();
        this.renderPanel();
      }
      throw e;
    }
  }

  private lastSaveState: SaveState = "saved";

  private showSaveState(state: SaveState, conflict: StaleVersion | null): void {
    // The form locks while a conflict waits for the reader's choice, and unlocks after it.
    const lockChanged = (state === "conflict") !== (this.lastSaveState === "conflict");
    this.lastSaveState = state;
    if (lockChanged) this.renderPanel();
    const label = this.notHolder ? "Read-only" : this.readOnly ? "Submitted (read-only)" : SAVE_LABELS[state];
    this.status.textContent = label;
    this.status.dataset.state = this.readOnly ? "submitted" : state;
    if (state === "conflict" && conflict) this.showConflict(conflict);
    else if (state === "error") {
      this.showBanner("warn", "Your last changes are not saved yet (the server did not answer).", [
        ["Retry now", () => this.saver?.retry()],
      ]);
    } else if (!this.readOnly) this.hideBanner();
    this.renderBoxes();
  }

  private showConflict(conflict: StaleVersion): void {
    this.showBanner(
      "error",
      "This read was changed in another tab or window after you opened it. Nothing was overwritten. " +
        "Load the saved version (your unsaved changes here are dropped), or keep yours and save it over the other.",
      [
        ["Load saved version", () => this.acceptServer(conflict)],
        ["Keep mine and save", () => void this.saver?.overwrite(draftFingerprint(this.draft!))],
      ],
    );
  }

  private acceptServer(conflict: StaleVersion): void {
    const read = conflict.serverState as ApiRead;
    this.draft = draftFromRead(read);
    this.selected = null;
    this.saver?.acceptServer(conflict.currentVersion, draftFingerprint(this.draft));
    this.hideBanner();
    this.renderBoxes();
    this.renderPanel();
  }

  private showBanner(kind: "warn" | "error" | "info", text: string, actions: [string, () => void][] = []): void {
    clear(this.banner);
    this.banner.hidden = false;
    this.banner.className = `banner banner-${kind}`;
    this.banner.append(h("span", {}, text));
    for (const [label, fn] of actions) {
      const b = h("button", { type: "button", class: "btn btn-small" }, label);
      b.addEventListener("click", fn);
      this.banner.append(b);
    }
  }

  private hideBanner(): void {
    this.banner.hidden = true;
  }

  private visibleViolations(): Violation[] {
    return this.submitAttempted ? this.violations : this.violations.filter((v) => !isMissingRule(v));
  }

  // ---- side panel ----------------------------------------------------------------------------

  private viewName(imageId: number): string {
    const i = this.images.get(imageId);
    return i ? `${i.laterality}${i.view_position}` : "?";
  }

  private buildSide(): void {
    clear(this.side);
    const detail = this.detail!;
    const head = h(
      "div",
      { class: "side-head" },
      h("div", {}, h("strong", {}, detail.kind === "arbitration" ? "Arbitration" : detail.kind === "first" ? "First read" : "Second read"),
        h("div", { class: "muted small", title: detail.study.study_id }, `Exam ${shortId(detail.study.study_id)} · ${detail.study.project}`,
          detail.study.patient_age !== null ? ` · age ${detail.study.patient_age}` : "")),
      this.status,
    );
    this.side.append(head);
    if (!detail.study.has_standard_views) {
      this.side.append(h("p", { class: "violation warning" }, "⚠ This exam lacks one of the four standard views."));
    }
    if (detail.kind === "arbitration") this.side.append(this.arbitrationSection(detail));
    this.panel = new ReadingPanel(this.draft!, {
      viewName: (id) => this.viewName(id),
      sideOf: (id) => (this.images.get(id)?.laterality as Side | undefined) ?? null,
      onChange: () => this.changed(),
      onSelect: (key) => this.select(key),
      onDelete: (key) => this.deleteFinding(key),
      breastNote: detail.kind === "arbitration" ? (side) => this.readsNote(side) : undefined,
      boxSize: (f) => this.boxSizeText(f.imageId, f.box),
      measurementLabel: (m) => this.lengthText(m.imageId, m.a, m.b),
      onDeleteMeasurement: (key) => this.deleteMeasurement(key),
    });
    this.side.append(this.panel.el);
    const submit = h("button", { type: "button", class: "btn btn-primary btn-wide", id: "submit", disabled: this.readOnly, title: "Submit (Ctrl+Enter)" },
      detail.kind === "arbitration" ? "Submit final read…" : "Submit read…");
    submit.addEventListener("click", () => void this.openSubmit());
    this.side.append(h("div", { class: "side-foot" }, this.submitHint, submit));
    if (this.notHolder) this.showBanner("info", `You are viewing ${detail.reader?.username}'s assignment as an admin: read-only.`);
    else if (this.readOnly) this.showBanner("info", "This read is submitted and can no longer be changed.");
    this.renderPanel();
  }

  private readonly submitHint = h("p", { class: "submit-hint small", id: "submit-hint", "aria-live": "polite" });

  /** What still stands between the reader and submit: unfilled fields, then rule errors. */
  private renderSubmitHint(): void {
    if (!this.draft) return;
    const missing = missingBeforeSubmit(this.draft);
    const errors = this.violations.filter((v) => v.severity === "error" && !isMissingRule(v));
    this.submitHint.className = `submit-hint small ${missing.length || errors.length ? "todo" : "ready"}`;
    this.submitHint.textContent = this.readOnly
      ? ""
      : missing.length
        ? `To do: ${missing.join(", ")}`
        : errors.length
          ? `${errors.length} problem${errors.length === 1 ? "" : "s"} to fix before submitting`
          : "Ready to submit";
  }

  /** Rebuilds the open submit dialog's list of blockers (null when no dialog is open). */
  private refreshSubmitDialog: (() => void) | null = null;

  private renderPanel(): void {
    this.renderSubmitHint();
    this.refreshSubmitDialog?.();
    this.renderAdoptLists();
    if (!this.panel || !this.draft) return;
    this.panel.update({
      draft: this.draft,
      selected: this.selected,
      placed: placeViolations(this.draft, this.visibleViolations()),
      readOnly: this.readOnly || this.saver?.current === "conflict",
    });
  }

  /** What read A and B said about this breast, each with a button that takes its values. */
  private readsNote(side: Side): Node {
    const d = this.detail!;
    const part = (r: ApiRead | null, tag: "a" | "b"): (Node | string)[] => {
      const b = r?.breasts.find((x) => x.laterality === side);
      const text = b ? `BI-RADS ${b.birads ?? "–"}, density ${b.density ?? "–"}` : "–";
      const use = h("button", { type: "button", class: "btn btn-small", id: `use-${tag}-${side}`, disabled: this.readOnly || !b,
        title: `Take read ${tag.toUpperCase()}'s BI-RADS and density for this breast` }, "Use");
      use.addEventListener("click", () => {
        if (!b || !this.draft) return;
        this.draft.breasts[side] = { birads: b.birads, density: b.density };
        this.changed();
      });
      return [h("span", { class: `tag-${tag}` }, tag.toUpperCase()), ` ${text} `, use];
    };
    return h("div", { class: "reads-note small" }, h("div", {}, ...part(d.read_a, "a")), h("div", {}, ...part(d.read_b, "b")));
  }

  private arbitrationSection(detail: AssignmentDetail): HTMLElement {
    const toggle = (id: string, label: string, cls: string, get: () => boolean, set: (v: boolean) => void): HTMLElement => {
      const input = h("input", { type: "checkbox", id, checked: get() });
      input.addEventListener("change", () => {
        set(input.checked);
        this.renderBoxes();
      });
      return h("label", { class: `check ${cls}`, for: id }, input, h("span", {}, label));
    };
    const reason = (r: DiscordanceReason): HTMLElement =>
      h("li", { "data-rule": r.rule }, r.laterality ? h("span", { class: "side-tag" }, r.laterality) : null, " ", r.message);
    return h(
      "section",
      { class: "panel-section arbitration", id: "arbitration" },
      h("h3", {}, "Discordance"),
      h("ul", { class: "reasons", id: "discordance-reasons" }, ...detail.discordance_reasons.map(reason)),
      h("div", { class: "toggles" },
        toggle("show-a", "Read A", "tag-a", () => this.showA, (v) => (this.showA = v)),
        toggle("show-b", "Read B", "tag-b", () => this.showB, (v) => (this.showB = v)),
        toggle("show-final", "Final read", "tag-final", () => this.showOwn, (v) => (this.showOwn = v)),
      ),
      h("h4", {}, "Read A findings"),
      this.adoptLists.a,
      h("h4", {}, "Read B findings"),
      this.adoptLists.b,
    );
  }

  private readonly adoptLists = { a: h("ul", { class: "adopt-list adopt-a" }), b: h("ul", { class: "adopt-list adopt-b" }) };

  /** The findings of read A and B, each with "Adopt" (or "Adopted" once in the final read). */
  private renderAdoptLists(): void {
    const detail = this.detail;
    if (!detail || detail.kind !== "arbitration" || !this.draft) return;
    const adopted = new Set(this.draft.findings.map((f) => f.sourceFindingId).filter((x) => x !== null));
    for (const [tag, read] of [["a", detail.read_a], ["b", detail.read_b]] as const) {
      const list = this.adoptLists[tag];
      clear(list);
      (read?.findings ?? []).forEach((f, i) => {
        const done = f.id !== null && adopted.has(f.id);
        const btn = h("button", { type: "button", class: "btn btn-small", "data-adopt": `${tag}:${f.id}`, disabled: this.readOnly || done,
          title: done ? "Already in the final read" : "Copy this box into the final read" }, done ? "Adopted" : "Adopt");
        btn.addEventListener("click", () => this.adopt(f));
        list.append(h("li", {}, h("span", { class: `tag-${tag}` }, `${tag.toUpperCase()}${i + 1}`),
          ` ${this.viewName(f.image)} · ${f.categories.join(", ")}${f.birads ? ` · BI-RADS ${f.birads}` : ""} `, btn));
      });
      if (!read?.findings.length) list.append(h("li", { class: "muted small" }, "No boxes."));
    }
  }

  // ---- toolbar -------------------------------------------------------------------------------

  private toolButtons = new Map<Tool, HTMLButtonElement>();
  private syncButton: HTMLButtonElement | null = null;
  private invertButton: HTMLButtonElement | null = null;

  private buildToolbar(): void {
    const tb = this.toolbar;
    clear(tb);
    const back = h("a", { href: "/", "data-link": "", class: "btn btn-ghost", title: "Back to the worklist" }, "← Worklist");
    tb.append(back);
    const tool = (t: Tool, label: string, key: string, title: string): HTMLButtonElement => {
      const b = h("button", { type: "button", class: "btn tool", id: `tool-${t}`, "aria-pressed": "false", title: `${title} (${key})` }, label, " ", h("kbd", {}, key));
      b.addEventListener("click", () => this.setTool(t));
      this.toolButtons.set(t, b);
      return b;
    };
    tb.append(
      h("div", { class: "group" },
        tool("select", "Select · W/L", "V", "Select boxes; drag elsewhere for window/level"),
        tool("pan", "Pan", "H", "Drag to pan"),
        tool("box", "Box", "B", "Draw a finding box"),
        tool("measure", "Length", "D", "Measure a length in mm: drag on an image"),
      ),
    );
    const action = (id: string, label: string, key: string, title: string, fn: () => void): HTMLButtonElement => {
      const b = h("button", { type: "button", class: "btn", id, title: `${title} (${key})` }, label, " ", h("kbd", {}, key));
      b.addEventListener("click", fn);
      return b;
    };
    const presets = h("select", { id: "preset", "aria-label": "Window preset", title: "Window presets from the DICOM" }, h("option", { value: "" }, "Presets"));
    const maxPresets = Math.max(0, ...this.detail!.images.map((i) => i.window_presets.length));
    for (let i = 0; i < maxPresets; i++) {
      const p = this.detail!.images.find((img) => img.window_presets[i])?.window_presets[i];
      presets.append(h("option", { value: String(i) }, p?.explanation || `Preset ${i + 1}`));
    }
    if (this.detail!.images.some((img) => img.tissue_window)) {
      presets.append(h("option", { value: "tissue" }, "Tissue (from the breast's own values)"));
    }
    presets.addEventListener("change", () => {
      if (presets.value === "tissue") {
        for (const vp of this.layout?.viewports ?? []) {
          const w = vp.image?.tissue_window;
          if (w) vp.setWindow(w.center, w.width);
        }
      } else if (presets.value !== "") {
        const i = Number(presets.value);
        for (const vp of this.layout?.viewports ?? []) if (vp.presets.length > i) vp.applyPreset(i);
      }
      presets.value = "";
    });
    this.loupeButton = action("loupe", "Loupe", "X", "Magnifier following the pointer: off, 2×, 4× ([ and ] resize)", () => this.cycleLoupe());
    this.loupeButton.setAttribute("aria-pressed", "false");
    this.invertButton = action("invert", "Invert", "I", "Invert grey scale", () => this.toggleInvert());
    this.invertButton.setAttribute("aria-pressed", "false");
    this.syncButton = action("sync", "Sync", "S", "Link zoom and pan across the four views", () => this.toggleSync());
    this.syncButton.setAttribute("aria-pressed", "true");
    this.linkButton = action("link-wl", "Link W/L", "L", "Window/level dragged on one view applies to all", () => this.toggleLinkWindow());
    this.linkButton.setAttribute("aria-pressed", "true");
    this.fitModeButton = action("fit-mode", FIT_MODE_NAMES.breast, "Z", "Next fit: breast, whole film, true size, 1:1 pixels", () => this.cycleFitMode());
    const layoutButton = (name: LayoutName | "one", label: string, key: string, title: string): HTMLButtonElement => {
      const b = action(`layout-${name}`, label, key, title, () => this.setLayout(name));
      b.setAttribute("aria-pressed", String(name === "four"));
      this.layoutButtons.set(name, b);
      return b;
    };
    tb.append(
      h("div", { class: "group" },
        presets,
        action("reset-wl", "Reset W/L", "R", "Window/level back to the default preset", () => this.layout?.resetWindowAll()),
        this.invertButton,
        this.loupeButton,
      ),
      h("div", { class: "group" },
        action("fit", "Fit", "F", "Fit every view (in the current fit mode)", () => this.layout?.fitAll()),
        this.fitModeButton,
        this.syncButton,
        this.linkButton,
      ),
      h("div", { class: "group", role: "group", "aria-label": "Layout" },
        layoutButton("four", "4 views", "G", "Four views: RCC | LCC over RMLO | LMLO"),
        layoutButton("cc", "CC", "C", "The two CC views"),
        layoutButton("mlo", "MLO", "M", "The two MLO views"),
        layoutButton("one", "1 view", "O", "The view under the pointer alone (again: back)"),
        (this.priorsButton = action("priors", "Prior", "P",
          "Current over the patient's most recent prior exam, for the CC or MLO pair (again: back; Shift+P: older priors)",
          () => void this.togglePriors())),
      ),
      h("span", { class: "spacer" }),
      action("next-exam", "Next exam", "N", "Save and open the next unread exam", () => void this.nextExam()),
      action("help", "Help", "?", "Keyboard shortcuts", () => openHelp(shortcuts())),
    );
    this.setTool(this.tool);
  }

  private setTool(t: Tool): void {
    this.tool = t;
    for (const [k, b] of this.toolButtons) b.setAttribute("aria-pressed", String(k === t));
    this.viewerHost.dataset.tool = t;
    this.layout?.setInteraction(this.viewerInteraction());
    this.compare?.layout.setInteraction(this.viewerInteraction());
  }

  /** What a drag on an image does with the current tool (drawing tools leave it to the layers). */
  private viewerInteraction(): Interaction {
    const t = this.tool;
    return t === "pan" ? "pan" : t === "box" || t === "measure" ? "none" : "windowLevel";
  }

  private loupeButton: HTMLButtonElement | null = null;
  /** Factor and size survive turning the loupe off (size is the reader's choice). */
  private loupeSize = LOUPE_DEFAULT.size;

  private cycleLoupe(): void {
    const factor = nextLoupeFactor(this.layout?.loupe?.factor ?? null);
    this.applyLoupe(factor === null ? null : { factor, size: this.loupeSize });
  }

  private resizeLoupeBy(step: number): void {
    const current = this.layout?.loupe;
    if (!current) return;
    const next = resizeLoupe(current, step);
    this.loupeSize = next.size;
    this.applyLoupe(next);
  }

  private applyLoupe(spec: LoupeSpec | null): void {
    this.layout?.setLoupe(spec);
    if (this.loupeButton) {
      this.loupeButton.setAttribute("aria-pressed", String(spec !== null));
      this.loupeButton.firstChild!.textContent = spec ? `Loupe ${spec.factor}×` : "Loupe";
    }
  }

  private toggleInvert(): void {
    this.invert = !this.invert;
    this.layout?.setInvertAll(this.invert);
    this.compare?.layout.setInvertAll(this.invert);
    this.invertButton?.setAttribute("aria-pressed", String(this.invert));
  }

  private linkButton: HTMLButtonElement | null = null;
  private fitModeButton: HTMLButtonElement | null = null;
  private readonly layoutButtons = new Map<LayoutName | "one", HTMLButtonElement>();

  private toggleLinkWindow(): void {
    if (!this.layout) return;
    this.layout.setLinkWindow(!this.layout.linkWindow);
    this.compare?.layout.setLinkWindow(this.layout.linkWindow);
    this.linkButton?.setAttribute("aria-pressed", String(this.layout.linkWindow));
  }

  private cycleFitMode(): void {
    if (!this.layout) return;
    const mode = nextFitMode(this.layout.fitMode);
    // The prior first: the current views' refit then finds the prior views fitted in this mode.
    this.compare?.layout.setFitMode(mode);
    this.layout.setFitMode(mode);
    const unknownSize = mode === "trueSize" && this.layout.viewports.some((vp) => !vp.image?.pixel_spacing);
    if (this.fitModeButton) {
      this.fitModeButton.firstChild!.textContent = unknownSize ? `${FIT_MODE_NAMES[mode]} (size unknown: breast fit)` : FIT_MODE_NAMES[mode];
      this.fitModeButton.dataset.mode = mode;
    }
  }

  private setLayout(name: LayoutName | "one"): void {
    const layout = this.layout;
    if (!layout) return;
    if (this.compare) {
      // Comparing: C and M switch both exams to that pair; any other layout ends the comparison.
      if (name === "cc" || name === "mlo") {
        layout.setLayout(name);
        this.compare.layout.setLayout(name);
        this.viewerHost.dataset.comparePair = name;
        this.pressLayoutButton();
        return;
      }
      this.closeCompare();
    }
    if (name === "one") {
      // Again on a single view: back to the layout it came from.
      if (layout.focusedImageId !== null) layout.focus(null);
      else layout.focus(layout.activeSlot);
    } else {
      layout.setLayout(name);
    }
    this.pressLayoutButton();
  }

  private pressLayoutButton(): void {
    const layout = this.layout;
    if (!layout) return;
    const current = layout.focusedImageId !== null ? "one" : layout.layoutName;
    for (const [k, b] of this.layoutButtons) b.setAttribute("aria-pressed", String(k === current));
  }

  /** P: the current exam's view pair over the same pair of the most recent prior (both hung
   * mirrored, chest walls at the centre line, so each current view sits above its prior);
   * again: back to the layout before. Shift+P (or the selector) steps to older priors. */
  private async togglePriors(): Promise<void> {
    const layout = this.layout;
    if (!layout) return;
    if (this.compare) {
      const before = this.compare.before;
      this.closeCompare();
      this.setLayout(before);
      return;
    }
    const priors = await this.priors;
    const prior = priors[0];
    if (!prior || this.destroyed || this.compare) {
      if (!prior && this.banner.hidden) this.showBanner("info", "No earlier exam of this patient in this project.", [["OK", () => this.hideBanner()]]);
      return;
    }
    const focused = layout.focusedImageId !== null ? layout.slotOf(layout.focusedImageId) : null;
    const before: LayoutName | "one" = layout.focusedImageId !== null ? "one" : layout.layoutName;
    const pair = comparePair(layout.layoutName, layout.activeSlot, focused);
    const currentLabel = h("div", { class: "compare-label compare-current" }, `Current exam ${shortId(this.detail!.study.study_id)}`);
    const label = h("div", { class: "compare-label compare-prior" });
    const bar = h("div", { class: "compare-bar" }, label);
    let select: HTMLSelectElement | null = null;
    if (priors.length > 1) {
      // More than one prior: a small selector beside the label (Shift+P steps through it too).
      select = h("select", { id: "prior-select", class: "prior-select", "aria-label": "Prior exam shown",
        title: "Which prior exam is shown (Shift+P: the next older)" },
      ...priors.map((p, i) => h("option", { value: String(i) }, priorOptionText(p, i, priors.length))));
      const chosen = select;
      chosen.addEventListener("change", () => void this.showPrior(Number(chosen.value)));
      bar.append(select);
    }
    const host = h("div", { class: "prior-host" }, bar);
    this.viewerHost.prepend(currentLabel);
    this.viewerHost.append(host);
    this.viewerHost.classList.add("comparing");
    this.viewerHost.dataset.comparePair = pair;
    layout.setLayout(pair);
    this.compare = { ...this.hangPrior(host, prior, pair), host, before, index: 0, label, select };
    this.labelPrior(prior, 0);
    this.priorsButton?.setAttribute("aria-pressed", "true");
    this.pressLayoutButton();
    await this.priorReady();
  }

  /** Shift+P: the next older prior (after the oldest, the most recent again); opens P if closed. */
  private async olderPrior(): Promise<void> {
    if (!this.compare) return this.togglePriors();
    await this.showPrior(olderPriorIndex(this.compare.index, (await this.priors).length));
  }

  /** Swap the prior shown below the current pair for priors[index], keeping pair and tools. */
  private async showPrior(index: number): Promise<void> {
    const compare = this.compare;
    const layout = this.layout;
    const prior = (await this.priors)[index];
    if (!compare || !layout || !prior || this.compare !== compare || compare.index === index) return;
    this.dropPrior();
    Object.assign(compare, this.hangPrior(compare.host, prior, layout.layoutName === "mlo" ? "mlo" : "cc"), { index });
    this.labelPrior(prior, index);
    await this.priorReady();
  }

  /** The prior's label ("Prior exam … · 2 y earlier · final read: …") and selector. */
  private labelPrior(prior: Prior, index: number): void {
    const compare = this.compare!;
    compare.label.textContent = `Prior exam ${shortId(prior.study.study_id)} · ${intervalText(prior.days_before)} · ${priorReadText(prior)}`;
    compare.label.className = `compare-label compare-prior ${prior.read_final ? "final" : "not-final"}`;
    compare.host.dataset.study = String(prior.study.id);
    compare.host.dataset.priorIndex = String(index);
    if (compare.select) compare.select.value = String(index);
  }

  /** Hang one prior's pair below the current one, following it, with its final read's boxes. */
  private hangPrior(host: HTMLElement, prior: Prior, pair: "cc" | "mlo"): { layout: HangingLayout; layers: BoxLayer[] } {
    const layout = this.layout!;
    const priorLayout = new HangingLayout(host, prior.images);
    priorLayout.setLayout(pair);
    priorLayout.setInvertAll(this.invert);
    priorLayout.setFitMode(layout.fitMode);
    priorLayout.setSync(layout.sync);
    priorLayout.setLinkWindow(layout.linkWindow);
    priorLayout.setInteraction(this.viewerInteraction());
    // Each current view leads the prior view below it: zoom, pan and window/level.
    layout.setFollower(priorLayout);
    const layers: BoxLayer[] = [];
    const attach = (vp: Viewport, image: ImageInfo): void => void layers.push(this.priorLayer(vp, image, prior));
    for (const image of prior.images) {
      const vp = priorLayout.viewportForImage(image.id);
      if (vp) attach(vp, image);
    }
    priorLayout.onViewportCreated(attach);
    (window as unknown as { __mammolab?: { prior?: HangingLayout } }).__mammolab!.prior = priorLayout;
    return { layout: priorLayout, layers };
  }

  /** `data-prior-ready` once the prior shown now has its pair drawn. */
  private async priorReady(): Promise<void> {
    const priorLayout = this.compare?.layout;
    if (!priorLayout) return;
    await priorLayout.ready;
    if (this.compare?.layout === priorLayout) this.viewerHost.dataset.priorReady = "true";
  }

  /** Take the shown prior's layout and boxes down (the host and labels stay). */
  private dropPrior(): void {
    const compare = this.compare;
    if (!compare) return;
    this.layout?.setFollower(null);
    for (const l of compare.layers) l.destroy();
    compare.layout.destroy();
    delete this.viewerHost.dataset.priorReady;
    delete (window as unknown as { __mammolab?: { prior?: HangingLayout } }).__mammolab?.prior;
  }

  /** The prior's final-read boxes on one of its views: shown, never selectable or editable. */
  private priorLayer(vp: Viewport, image: ImageInfo, prior: Prior): BoxLayer {
    const none = (): void => undefined;
    return new BoxLayer(vp, {
      columns: image.columns,
      rows: image.rows,
      boxes: () => priorBoxes(prior, image.id),
      selected: () => null,
      tool: () => "select",
      readOnly: () => true,
      onSelect: none,
      onCreate: none,
      onChange: none,
      onCommit: none,
    });
  }

  private closeCompare(): void {
    if (!this.compare) return;
    this.dropPrior();
    this.compare.host.remove();
    this.viewerHost.querySelector(".compare-current")?.remove();
    this.viewerHost.classList.remove("comparing");
    delete this.viewerHost.dataset.comparePair;
    this.compare = null;
    this.priorsButton?.setAttribute("aria-pressed", "false");
  }

  private toggleSync(): void {
    if (!this.layout) return;
    this.layout.setSync(!this.layout.sync);
    this.compare?.layout.setSync(this.layout.sync);
    this.syncButton?.setAttribute("aria-pressed", String(this.layout.sync));
  }

  // ---- submit, next --------------------------------------------------------------------------

  private async flushSave(): Promise<boolean> {
    try {
      await this.saver?.flush();
      return true;
    } catch {
      return false;
    }
  }

  private async openSubmit(): Promise<void> {
    if (!this.draft || !this.detail || this.readOnly) return;
    if (!(await this.flushSave())) return;
    this.submitAttempted = true;
    this.renderBoxes();
    this.renderPanel();
    const labels = new Map([...this.images].map(([id, i]) => [id, { laterality: i.laterality, viewPosition: i.view_position }]));
    const summary = draftSummary(this.draft, labels);
    const warnings = this.violations.filter((v) => v.severity === "warning");
    const dialog = h("dialog", { class: "dialog", id: "submit-dialog", "aria-labelledby": "submit-title" });
    const confirm = h("button", { type: "button", class: "btn btn-primary", id: "confirm-submit" }, "Confirm and submit");
    // What blocks submit, listed up front; Confirm stays disabled until the list is empty (it
    // is rebuilt on every change and every server answer while the dialog is open).
    const blockersBlock = h("div", { id: "submit-blockers" });
    let submitting = false;
    const renderBlockers = (): void => {
      const blockers = submitBlockers(this.draft!, this.violations);
      clear(blockersBlock);
      if (blockers.length) {
        blockersBlock.append(
          h("p", { class: "violation error" }, `Fix ${blockers.length === 1 ? "this" : `these ${blockers.length}`} before submitting:`),
          h("ul", { class: "violations" }, ...blockers.map((b) => h("li", { class: "violation error", ...(b.rule ? { "data-rule": b.rule } : {}) }, "✖ ", b.text))),
        );
      }
      confirm.disabled = submitting || blockers.length > 0;
      confirm.title = blockers.length ? "Fix the problems listed above first" : "";
    };
    this.refreshSubmitDialog = renderBlockers;
    const cancel = h("button", { type: "button", class: "btn", id: "cancel-submit" }, "Back to reading");
    const error = h("div", { class: "violations-block", id: "submit-errors" });
    dialog.append(
      h("h2", { id: "submit-title" }, this.detail.kind === "arbitration" ? "Submit the final read?" : "Submit this read?"),
      h("p", { class: "muted small" }, "After submitting, the read can no longer be changed."),
      h(
        "table",
        { class: "table summary", id: "submit-summary" },
        h("thead", {}, h("tr", {}, h("th", {}, "Breast"), h("th", {}, "BI-RADS"), h("th", {}, "Density"), h("th", {}, "Findings"))),
        h(
          "tbody",
          {},
          ...summary.map((line) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, line.side === "R" ? "Right" : "Left"),
              h("td", {}, line.birads ?? "—"),
              h("td", {}, line.density ?? "—"),
              h("td", {}, line.findings.length === 0 ? "None" : h("ul", {}, ...line.findings.map((f) => h("li", {}, `${f.view}: ${f.categories.join(", ") || "no category"}${f.birads ? ` · BI-RADS ${f.birads}` : ""}`)))),
            ),
          ),
        ),
      ),
      blockersBlock,
      h("div", {}, warnings.length ? h("ul", { class: "violations" }, ...warnings.map((w) => h("li", { class: "violation warning" }, "⚠ ", w.message))) : null),
      error,
      h("div", { class: "dialog-actions" }, cancel, confirm),
    );
    document.body.append(dialog);
    const close = (): void => {
      this.refreshSubmitDialog = null;
      dialog.close();
      dialog.remove();
    };
    cancel.addEventListener("click", close);
    dialog.addEventListener("cancel", () => {
      this.refreshSubmitDialog = null;
      dialog.remove();
    });
    renderBlockers();
    confirm.addEventListener("click", () => {
      if (submitBlockers(this.draft!, this.violations).length) return;
      submitting = true;
      confirm.disabled = true;
      void (async () => {
        try {
          await this.saver?.flush();
          await api.submit(this.assignmentId, this.saver!.version, this.activeSeconds());
          close();
          this.detail!.state = "submitted";
          this.ctx.navigate(`/?submitted=${this.assignmentId}`);
        } catch (e) {
          submitting = false;
          renderBlockers();
          if (e instanceof ApiError && e.code === "validation_failed") {
            this.violations = (e.extra.violations as Violation[]) ?? [];
            this.renderBoxes();
            this.renderPanel();
            renderBlockers();
            clear(error);
            error.append(
              h("p", { class: "violation error" }, "The read cannot be submitted yet:"),
              h("ul", { class: "violations" }, ...this.violations.filter((v) => v.severity === "error").map((v) => h("li", { class: "violation error", "data-rule": v.rule }, "✖ ", v.message))),
            );
          } else {
            clear(error);
            error.append(h("p", { class: "violation error" }, e instanceof Error ? e.message : "Submit failed."));
          }
        }
      })();
    });
    dialog.showModal();
    (confirm.disabled ? cancel : confirm).focus();
  }

  private async nextExam(): Promise<void> {
    if (!(await this.flushSave())) return;
    try {
      const page = await api.worklist({ state: "open" });
      const next = page.results.find((a) => a.id === page.next_assignment && a.id !== this.assignmentId)
        ?? page.results.find((a) => a.id !== this.assignmentId && a.state !== "submitted");
      this.ctx.navigate(next ? assignmentPath(next) : "/");
    } catch {
      this.ctx.navigate("/");
    }
  }

  // ---- keyboard ------------------------------------------------------------------------------

  private key(e: KeyboardEvent): void {
    // An open dialog (help, submit) owns the keyboard; Escape closes it natively.
    if (document.querySelector("dialog[open]")) return;
    if (isTyping(e.target)) return;
    const sel = this.selected ? this.draft?.findings.find((f) => f.key === this.selected) : undefined;
    if (e.ctrlKey && e.key === "Enter") {
      e.preventDefault();
      void this.openSubmit();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    // Shift+3/4/5: finding BI-RADS of the selected box (by physical key, whatever the layout).
    if (e.shiftKey && /^Digit[345]$/.test(e.code) && sel && !this.readOnly) {
      const birads = FINDING_BIRADS.find((b) => b === Number(e.code.slice(5)));
      if (birads !== undefined && needsFindingBirads(sel.categories)) {
        sel.birads = birads;
        this.changed();
      }
      e.preventDefault();
      return;
    }
    if (e.shiftKey && e.code === "KeyP") {
      e.preventDefault();
      void this.olderPrior();
      return;
    }
    const k = e.key;
    if (/^[0-9]$/.test(k) && !e.shiftKey) {
      const cat = categoryForDigit(k);
      if (sel && cat && !this.readOnly) {
        toggleCategory(sel, cat);
        this.changed();
        e.preventDefault();
      }
      return;
    }
    const actions: Record<string, () => void> = {
      v: () => this.setTool("select"),
      h: () => this.setTool("pan"),
      p: () => void this.togglePriors(),
      b: () => this.setTool("box"),
      d: () => this.setTool("measure"),
      r: () => this.layout?.resetWindowAll(),
      i: () => this.toggleInvert(),
      x: () => this.cycleLoupe(),
      "[": () => this.resizeLoupeBy(-40),
      "]": () => this.resizeLoupeBy(40),
      f: () => this.layout?.fitAll(),
      z: () => this.cycleFitMode(),
      l: () => this.toggleLinkWindow(),
      g: () => this.setLayout("four"),
      c: () => this.setLayout("cc"),
      m: () => this.setLayout("mlo"),
      o: () => this.setLayout("one"),
      s: () => this.toggleSync(),
      n: () => void this.nextExam(),
      "?": () => openHelp(shortcuts()),
      Delete: () => this.deleteSelected(),
      Backspace: () => this.deleteSelected(),
      Escape: () => this.select(null),
    };
    const fn = actions[k.length === 1 ? k.toLowerCase() : k];
    if (fn) {
      e.preventDefault();
      fn();
    }
  }

  private deleteSelected(): void {
    const key = this.selected;
    if (!key || !this.draft) return;
    if (this.draft.measurements.some((m) => m.key === key)) this.deleteMeasurement(key);
    else if (this.draft.findings.some((f) => f.key === key)) this.deleteFinding(key);
  }

  leave(): boolean {
    if (this.saver && this.saver.current === "unsaved") void this.saver.flush().catch(() => undefined);
    if (this.saver?.current === "conflict") {
      return window.confirm("This read has a save conflict; leaving drops your unsaved changes. Leave?");
    }
    return true;
  }

  destroy(): void {
    this.destroyed = true;
    document.removeEventListener("keydown", this.onKey);
    for (const type of ReadScreen.ACTIVITY_EVENTS) document.removeEventListener(type, this.onActivity, { capture: true });
    window.removeEventListener("blur", this.onBlur);
    window.removeEventListener("focus", this.onFocus);
    document.removeEventListener("visibilitychange", this.onVisibility);
    for (const l of this.layers.values()) l.destroy();
    this.layers.clear();
    for (const l of this.measureLayers.values()) l.destroy();
    this.measureLayers.clear();
    this.closeCompare();
    this.layout?.destroy();
    this.ctx.main.classList.remove("main-full");
    document.querySelector("#submit-dialog")?.remove();
  }
}
