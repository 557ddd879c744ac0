// The standard screening mammography hanging protocol:
//
//      RCC  | LCC          right breast on the left of the screen, left breast on the right,
//      RMLO | LMLO         each mirrored per display_flip_horizontal so the chest walls meet
//                          at the centre line; extra views as thumbnails below.
import { fittedView, type FitItem, type FitMode } from "./fit";
import { carryView, carryWindow, type FitAlign, type Size, type ViewFrame, type ViewState, type WindowLevel } from "./geometry";
import type { ImageInfo, Interaction, Slot } from "./types";
import { SLOTS } from "./types";
import { Viewport } from "./viewport";
import { warmDecoders } from "./decoder";
import type { LoupeSpec } from "./loupe";

interface Cell {
  element: HTMLDivElement;
  viewport: Viewport;
  image: ImageInfo;
  slot: Slot | null;
}

const SLOT_POSITION: Record<Slot, { row: number; column: number }> = {
  RCC: { row: 1, column: 1 },
  LCC: { row: 1, column: 2 },
  RMLO: { row: 2, column: 1 },
  LMLO: { row: 2, column: 2 },
};

/** Chest wall towards the centre line: right-breast views hug the right edge of their cell. */
function alignFor(laterality: string): FitAlign {
  return { x: laterality === "R" ? "end" : "start", y: "center" };
}

/** Four views, the two CCs, the two MLOs; one view alone is `focus()`. */
export type LayoutName = "four" | "cc" | "mlo";

/** Which slots a layout shows, and where (CC-only / MLO-only: one row, full height). */
const LAYOUT_SLOTS: Record<LayoutName, Partial<Record<Slot, { row: string; column: string }>>> = {
  four: { RCC: { row: "1", column: "1" }, LCC: { row: "1", column: "2" }, RMLO: { row: "2", column: "1" }, LMLO: { row: "2", column: "2" } },
  cc: { RCC: { row: "1 / span 2", column: "1" }, LCC: { row: "1 / span 2", column: "2" } },
  mlo: { RMLO: { row: "1 / span 2", column: "1" }, LMLO: { row: "1 / span 2", column: "2" } },
};

function fitItemOf(image: ImageInfo, viewport: Size): FitItem {
  const spacing = image.pixel_spacing;
  return {
    image: { width: image.columns, height: image.rows },
    viewport,
    bounds: image.tissue_bounds ?? null,
    mmPerPx: spacing && spacing.length === 2 && spacing[1]! > 0 ? spacing[1]! : null,
  };
}

function frameOf(image: ImageInfo): ViewFrame {
  return { width: image.columns, height: image.rows, flipH: image.display_flip_horizontal, right: image.laterality === "R" };
}

/** A view's default window (its first preset; import derives one when the file has none). */
function defaultWindow(viewport: Viewport): WindowLevel | null {
  const preset = viewport.presets[0];
  return preset ? { center: preset.center, width: preset.width } : null;
}

function slotOfImage(image: ImageInfo): Slot | null {
  const slot = `${image.laterality}${image.view_position}`;
  return (SLOTS as readonly string[]).includes(slot) ? (slot as Slot) : null;
}

/** Which images fill the four slots (first image by id per slot) and which are extras. */
export function assignSlots(images: readonly ImageInfo[]): { slots: Map<Slot, ImageInfo>; extras: ImageInfo[] } {
  const slots = new Map<Slot, ImageInfo>();
  const extras: ImageInfo[] = [];
  for (const image of [...images].sort((a, b) => a.id - b.id)) {
    const slot = slotOfImage(image);
    if (slot && !slots.has(slot)) slots.set(slot, image);
    else extras.push(image);
  }
  return { slots, extras };
}

export class HangingLayout {
  readonly root: HTMLDivElement;
  /**
   * Resolves when every hung view shows at least its 8-bit display image or has failed (a failed
   * view shows its error in place and has status "error"); never rejects.
   */
  readonly ready: Promise<void>;
  readonly extras: readonly ImageInfo[];

  private readonly grid: HTMLDivElement;
  private readonly strip: HTMLDivElement;
  private readonly cells = new Map<number, Cell>();
  private readonly slotCells = new Map<Slot, Cell>();
  private readonly placeholders = new Map<Slot, HTMLDivElement>();
  private syncOn = true;
  private linkWindowOn = true;
  private fitModeValue: FitMode = "breast";
  private layoutValue: LayoutName = "four";
  /** The hung view the pointer was last over (the one "one view" shows). */
  private hovered: Slot | null = null;
  private mode: Interaction = "windowLevel";
  private focused: Cell | null = null;
  /** Guards against sync echo: setView on the others must not re-broadcast. */
  private syncing = false;
  private readonly thumbnailListeners = new Set<(image: ImageInfo) => void>();
  private readonly viewportListeners = new Set<(viewport: Viewport, image: ImageInfo) => void>();
  /** Settles when every hung view has its preview: the full-depth transfers wait for it. */
  private firstPaint: Promise<unknown> = Promise.resolve();
  /** Settles when every hung view has its 16-bit data (reduced or full): full resolution may start. */
  private depthPaint: Promise<unknown> = Promise.resolve();

  constructor(container: HTMLElement, images: readonly ImageInfo[]) {
    const { slots, extras } = assignSlots(images);
    this.extras = extras;

    const root = document.createElement("div");
    root.className = "mv-hanging";
    root.style.cssText = "display:flex;flex-direction:column;width:100%;height:100%;background:#000;gap:2px;";
    const grid = document.createElement("div");
    grid.className = "mv-hanging-grid";
    grid.style.cssText =
      "flex:1 1 auto;min-height:0;display:grid;grid-template-columns:1fr 1fr;grid-template-rows:1fr 1fr;gap:2px;";
    root.appendChild(grid);
    this.grid = grid;

    const strip = document.createElement("div");
    strip.className = "mv-thumbnails";
    strip.style.cssText =
      "flex:0 0 auto;display:flex;gap:6px;padding:4px;overflow-x:auto;background:#111;align-items:center;";
    // style.display, not the hidden attribute: the inline display:flex would override it.
    if (extras.length === 0) strip.style.display = "none";
    root.appendChild(strip);
    this.strip = strip;
    container.appendChild(root);
    this.root = root;
    root.dataset.fitMode = this.fitModeValue;
    root.dataset.layout = this.layoutValue;
    root.dataset.linkWindow = "true";

    const loads: Promise<void>[] = [];
    let firstPaintDone = (): void => undefined;
    this.firstPaint = new Promise<void>((resolve) => (firstPaintDone = resolve));
    let depthPaintDone = (): void => undefined;
    this.depthPaint = new Promise<void>((resolve) => (depthPaintDone = resolve));
    for (const slot of SLOTS) {
      const image = slots.get(slot);
      if (!image) {
        const empty = this.cellElement(SLOT_POSITION[slot]);
        const text = document.createElement("div");
        text.textContent = `No ${slot} image`;
        text.style.cssText =
          "position:absolute;inset:0;display:flex;align-items:center;justify-content:center;" +
          "color:#888;font:14px system-ui,sans-serif;";
        empty.appendChild(text);
        this.placeholders.set(slot, empty);
        continue;
      }
      const { cell, loaded } = this.createCell(image, slot);
      this.slotCells.set(slot, cell);
      loads.push(loaded);
    }
    // The 16-bit decode workers load their script once the first view is drawn (started at open,
    // they delayed the first pixels), before the first paint of all four ends and every view
    // needs them at once.
    for (const cell of this.slotCells.values()) {
      cell.viewport.onStatusChange((status) => {
        if (status === "display" || status === "full") warmDecoders();
      });
    }
    for (const image of extras) this.addThumbnail(image);
    // Each view was fitted as it was created; "same size" needs them all: fit again.
    for (const cell of this.slotCells.values()) cell.viewport.refit();
    this.ready = Promise.all(loads).then(() => firstPaintDone());
    void Promise.all([...this.slotCells.values()].map((c) => c.viewport.fullDepthReady)).then(() => depthPaintDone());
  }

  private cellElement(position: { row: number; column: number } | null): HTMLDivElement {
    const element = document.createElement("div");
    element.className = "mv-cell";
    element.style.cssText = "position:relative;min-width:0;min-height:0;";
    if (position) {
      element.style.gridRow = String(position.row);
      element.style.gridColumn = String(position.column);
    } else {
      element.hidden = true;
    }
    this.grid.appendChild(element);
    return element;
  }

  private createCell(image: ImageInfo, slot: Slot | null): { cell: Cell; loaded: Promise<void> } {
    const element = this.cellElement(slot ? SLOT_POSITION[slot] : null);
    element.dataset.imageId = String(image.id);
    if (slot) element.dataset.slot = slot;
    const viewport = new Viewport(element, {
      fitAlign: alignFor(image.laterality),
      label: slot ?? `${image.laterality} ${image.view_position}`.trim(),
      fullDepthAfter: this.firstPaint,
      fullResolutionAfter: this.depthPaint,
    });
    viewport.setInteraction(this.mode);
    viewport.setLoupe(this.loupeSpec);
    const cell: Cell = { element, viewport, image, slot };
    this.cells.set(image.id, cell);
    viewport.setFitter((size) => this.fitFor(cell, size));
    viewport.onViewChange((view, source) => {
      if (source === "user") this.propagate(cell, view);
      // Whatever moved it (the reader, the pair sync, a fit or resize), the view below follows.
      this.lead(cell);
    });
    // Linked window/level: what the reader drags on one view, the others show (same modality
    // values across the views of one exam); presets and resets stay per view.
    viewport.onWindowChange((w, source) => {
      this.leadWindow(cell, w);
      if (source !== "user" || !this.linkWindowOn) return;
      this.interactiveWhileLinked();
      for (const other of this.cells.values()) if (other !== cell) other.viewport.setWindow(w.center, w.width);
    });
    if (slot) element.addEventListener("pointerenter", () => (this.hovered = slot));
    for (const listener of this.viewportListeners) listener(viewport, image);
    // A view that fails says so in its own cell; the others still open.
    return { cell, loaded: viewport.load(image).catch(() => undefined) };
  }

  private addThumbnail(image: ImageInfo): void {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "mv-thumbnail";
    button.dataset.imageId = String(image.id);
    button.title = `${image.laterality} ${image.view_position}`;
    button.style.cssText =
      "display:flex;flex-direction:column;align-items:center;gap:2px;padding:2px;background:#000;" +
      "border:1px solid #444;color:#ddd;font:11px system-ui,sans-serif;cursor:pointer;";
    const img = document.createElement("img");
    img.src = image.urls.thumbnail;
    img.alt = `${image.laterality} ${image.view_position} thumbnail`;
    img.style.cssText = `height:72px;display:block;${image.display_flip_horizontal ? "transform:scaleX(-1);" : ""}`;
    const caption = document.createElement("span");
    caption.textContent = `${image.laterality} ${image.view_position}`;
    button.append(img, caption);
    button.addEventListener("click", () => {
      if (this.thumbnailListeners.size === 0) {
        this.focus(this.focused?.image.id === image.id ? null : image.id);
      }
      for (const listener of this.thumbnailListeners) listener(image);
    });
    this.strip.appendChild(button);
  }

  /** Mirror a user's zoom/pan to the other hung views, in shared (anatomical) terms. */
  private propagate(source: Cell, view: ViewState): void {
    if (!this.syncOn || this.syncing || !source.slot) return;
    this.syncing = true;
    try {
      for (const cell of this.slotCells.values()) {
        if (cell === source) continue;
        // A fit is a fit everywhere: each view then aligns its own chest wall to the centre line.
        if (source.viewport.fitted) {
          cell.viewport.fit();
          continue;
        }
        cell.viewport.setView(carryView(view, frameOf(source.image), frameOf(cell.image)));
      }
    } finally {
      this.syncing = false;
    }
  }

  private follower: HangingLayout | null = null;

  /** The follower's view of the same slot (the prior view hung below this one). */
  private below(cell: Cell): Cell | null {
    return cell.slot ? (this.follower?.slotCells.get(cell.slot) ?? null) : null;
  }

  /** Carry one hung view's zoom/pan to the view below: a fit is a fit there too (its own). */
  private lead(cell: Cell): void {
    const target = this.below(cell);
    if (!target) return;
    if (cell.viewport.fitted) {
      if (!target.viewport.fitted) target.viewport.fit();
      return;
    }
    target.viewport.setView(carryView(cell.viewport.getView(), frameOf(cell.image), frameOf(target.image)));
  }

  /** Carry one hung view's window to the view below, relative to both views' defaults. */
  private leadWindow(cell: Cell, w: WindowLevel): void {
    const target = this.below(cell);
    if (!target) return;
    this.follower!.interactiveWhileLinked();
    const carried = carryWindow(w, defaultWindow(cell.viewport), defaultWindow(target.viewport));
    target.viewport.setWindow(carried.center, carried.width);
  }

  /** The fitted view of one cell in the current fit mode, same size across the views shown. */
  private fitFor(cell: Cell, size: Size): ViewState {
    const item = fitItemOf(cell.image, size);
    const shown = [...this.cells.values()].filter((c) => c !== cell && !c.element.hidden && (this.focused === null || c === this.focused));
    const group = [item, ...shown.flatMap((c) => {
      // Live sizes: during a layout change the cells resize one after another.
      const r = c.element.getBoundingClientRect();
      return r.width > 0 && r.height > 0 ? [fitItemOf(c.image, { width: r.width, height: r.height })] : [];
    })];
    return fittedView(this.fitModeValue, item, cell === this.focused ? [item] : group,
      cell.image.display_flip_horizontal, alignFor(cell.image.laterality), window.devicePixelRatio || 1);
  }

  /** Place the cells for the current layout, or the focused view alone. */
  private arrange(): void {
    const cell = this.focused;
    const places = LAYOUT_SLOTS[this.layoutValue];
    for (const other of this.cells.values()) {
      if (cell !== null) {
        other.element.hidden = other !== cell;
        if (other === cell) {
          other.element.style.gridRow = "1 / span 2";
          other.element.style.gridColumn = "1 / span 2";
        }
        continue;
      }
      const place = other.slot ? places[other.slot] : undefined;
      other.element.hidden = !place;
      if (place) {
        other.element.style.gridRow = place.row;
        other.element.style.gridColumn = place.column;
      }
    }
    for (const [slot, placeholder] of this.placeholders) {
      const place = places[slot];
      placeholder.hidden = cell !== null || !place;
      if (place) {
        placeholder.style.gridRow = place.row;
        placeholder.style.gridColumn = place.column;
      }
    }
    this.root.dataset.layout = cell ? "one" : this.layoutValue;
    this.fitAll();
  }

  // ---- public API -------------------------------------------------------------------------

  get fitMode(): FitMode {
    return this.fitModeValue;
  }

  /** How every view fits: breast (default), whole film, true size, 1:1 pixels; refits all. */
  setFitMode(mode: FitMode): void {
    this.fitModeValue = mode;
    this.root.dataset.fitMode = mode;
    this.fitAll();
  }

  get layoutName(): LayoutName {
    return this.layoutValue;
  }

  /** Four views, CCs only or MLOs only (leaves a focused single view first). */
  setLayout(name: LayoutName): void {
    this.layoutValue = name;
    this.focused = null;
    this.root.dataset.focused = "";
    this.arrange();
  }

  /** The hung view the pointer was last over, else the first hung view of the layout. */
  get activeSlot(): Slot | null {
    const shown = SLOTS.filter((slot) => this.slotCells.has(slot) && LAYOUT_SLOTS[this.layoutValue][slot]);
    return this.hovered && shown.includes(this.hovered) ? this.hovered : (shown[0] ?? null);
  }

  private interactiveTimer = 0;

  /** A linked window/level drag redraws every view each frame: half resolution until it pauses. */
  private interactiveWhileLinked(): void {
    for (const c of this.cells.values()) c.viewport.setInteractiveQuality(true);
    clearTimeout(this.interactiveTimer);
    this.interactiveTimer = window.setTimeout(() => {
      for (const c of this.cells.values()) c.viewport.setInteractiveQuality(false);
    }, HangingLayout.INTERACTIVE_PAUSE_MS);
  }

  private static readonly INTERACTIVE_PAUSE_MS = 150;

  get linkWindow(): boolean {
    return this.linkWindowOn;
  }

  /** Window/level dragged on one view applies to all (default on). */
  setLinkWindow(on: boolean): void {
    this.linkWindowOn = on;
    this.root.dataset.linkWindow = String(on);
  }

  /**
   * Another layout whose hung views follow this one's, slot by slot (current vs prior: the prior
   * exam's pair hung below): zoom/pan by the breast-pair rule (`carryView`; a fit is a fit),
   * window/level relative to each view's default (`carryWindow`), from now on and once now.
   * Its own views stay movable and linked among themselves. Null unlinks.
   */
  setFollower(follower: HangingLayout | null): void {
    this.follower = follower;
    if (!follower) return;
    for (const cell of this.slotCells.values()) {
      this.lead(cell);
      this.leadWindow(cell, cell.viewport.getWindow());
    }
  }

  viewport(slot: Slot): Viewport | null {
    return this.slotCells.get(slot)?.viewport ?? null;
  }

  /** The viewport showing this image (extras get one once focused). */
  viewportForImage(imageId: number): Viewport | null {
    return this.cells.get(imageId)?.viewport ?? null;
  }

  slotOf(imageId: number): Slot | null {
    return this.cells.get(imageId)?.slot ?? null;
  }

  /** The hung views, in RCC, LCC, RMLO, LMLO order (missing slots left out). */
  get viewports(): Viewport[] {
    return SLOTS.flatMap((slot) => {
      const cell = this.slotCells.get(slot);
      return cell ? [cell.viewport] : [];
    });
  }

  get sync(): boolean {
    return this.syncOn;
  }

  setSync(on: boolean): void {
    this.syncOn = on;
    this.root.dataset.sync = String(on);
  }

  setInteraction(mode: Interaction): void {
    this.mode = mode;
    for (const cell of this.cells.values()) cell.viewport.setInteraction(mode);
  }

  fitAll(): void {
    for (const cell of this.cells.values()) cell.viewport.fit();
  }

  resetWindowAll(): void {
    for (const cell of this.cells.values()) cell.viewport.resetWindow();
  }

  private loupeSpec: LoupeSpec | null = null;

  /** The magnifier on every view (it shows on the one under the pointer); null: off. */
  setLoupe(spec: LoupeSpec | null): void {
    this.loupeSpec = spec;
    this.root.dataset.loupe = spec ? `${spec.factor}x` : "off";
    for (const cell of this.cells.values()) cell.viewport.setLoupe(spec);
  }

  get loupe(): LoupeSpec | null {
    return this.loupeSpec;
  }

  setInvertAll(on: boolean): void {
    for (const cell of this.cells.values()) cell.viewport.setInvert(on);
  }

  /** The image shown alone (full layout size), or null when the four views are shown. */
  get focusedImageId(): number | null {
    return this.focused?.image.id ?? null;
  }

  /** Show one view large (a slot or any image id, extras included); null returns to four views. */
  focus(target: Slot | number | null): void {
    let cell: Cell | null = null;
    if (typeof target === "string") cell = this.slotCells.get(target) ?? null;
    else if (typeof target === "number") {
      cell = this.cells.get(target) ?? null;
      const extra = this.extras.find((image) => image.id === target);
      if (!cell && extra) {
        cell = this.createCell(extra, null).cell;
      }
    }
    this.focused = cell;
    this.root.dataset.focused = cell ? String(cell.image.id) : "";
    this.arrange();
    for (const button of this.strip.querySelectorAll<HTMLButtonElement>(".mv-thumbnail")) {
      const active = cell !== null && button.dataset.imageId === String(cell.image.id);
      button.style.borderColor = active ? "#4da3ff" : "#444";
      button.setAttribute("aria-pressed", String(active));
    }
  }

  /** Replace the default thumbnail click (focus that image). */
  onThumbnailClick(cb: (image: ImageInfo) => void): () => void {
    this.thumbnailListeners.add(cb);
    return () => this.thumbnailListeners.delete(cb);
  }

  /** Called for every viewport created from now on (extras get theirs when first focused). */
  onViewportCreated(cb: (viewport: Viewport, image: ImageInfo) => void): () => void {
    this.viewportListeners.add(cb);
    return () => this.viewportListeners.delete(cb);
  }

  destroy(): void {
    this.follower = null;
    clearTimeout(this.interactiveTimer);
    for (const cell of this.cells.values()) cell.viewport.destroy();
    this.cells.clear();
    this.slotCells.clear();
    this.thumbnailListeners.clear();
    this.viewportListeners.clear();
    this.root.remove();
  }
}
