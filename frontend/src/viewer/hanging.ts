// The standard screening mammography hanging protocol:
//
//      RCC  | LCC          right breast on the left of the screen, left breast on the right,
//      RMLO | LMLO         each mirrored per display_flip_horizontal so the chest walls meet
//                          at the centre line; extra views as thumbnails below.
import { fromSharedView, toSharedView, type FitAlign, type ViewState } from "./geometry";
import type { ImageInfo, Interaction, Slot } from "./types";
import { SLOTS } from "./types";
import { Viewport } from "./viewport";

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
  private readonly placeholders: HTMLDivElement[] = [];
  private syncOn = true;
  private mode: Interaction = "windowLevel";
  private focused: Cell | null = null;
  /** Guards against sync echo: setView on the others must not re-broadcast. */
  private syncing = false;
  private readonly thumbnailListeners = new Set<(image: ImageInfo) => void>();
  private readonly viewportListeners = new Set<(viewport: Viewport, image: ImageInfo) => void>();
  /** Settles when every hung view has its preview: the full-depth transfers wait for it. */
  private firstPaint: Promise<unknown> = Promise.resolve();

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

    const loads: Promise<void>[] = [];
    let firstPaintDone = (): void => undefined;
    this.firstPaint = new Promise<void>((resolve) => (firstPaintDone = resolve));
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
        this.placeholders.push(empty);
        continue;
      }
      const { cell, loaded } = this.createCell(image, slot);
      this.slotCells.set(slot, cell);
      loads.push(loaded);
    }
    for (const image of extras) this.addThumbnail(image);
    this.ready = Promise.all(loads).then(() => firstPaintDone());
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
    });
    viewport.setInteraction(this.mode);
    const cell: Cell = { element, viewport, image, slot };
    this.cells.set(image.id, cell);
    viewport.onViewChange((view, source) => {
      if (source === "user") this.propagate(cell, view);
    });
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
    const size = (image: ImageInfo): { width: number; height: number } => ({ width: image.columns, height: image.rows });
    const shared = toSharedView(view, size(source.image), source.image.display_flip_horizontal, source.image.laterality === "R");
    this.syncing = true;
    try {
      for (const cell of this.slotCells.values()) {
        if (cell === source) continue;
        // A fit is a fit everywhere: each view then aligns its own chest wall to the centre line.
        if (source.viewport.fitted) {
          cell.viewport.fit();
          continue;
        }
        cell.viewport.setView(
          fromSharedView(shared, size(cell.image), cell.image.display_flip_horizontal, cell.image.laterality === "R"),
        );
      }
    } finally {
      this.syncing = false;
    }
  }

  // ---- public API -------------------------------------------------------------------------

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
    for (const other of this.cells.values()) {
      if (cell === null) {
        other.element.hidden = other.slot === null;
        if (other.slot) {
          const position = SLOT_POSITION[other.slot];
          other.element.style.gridRow = String(position.row);
          other.element.style.gridColumn = String(position.column);
        }
      } else if (other === cell) {
        other.element.hidden = false;
        other.element.style.gridRow = "1 / span 2";
        other.element.style.gridColumn = "1 / span 2";
      } else {
        other.element.hidden = true;
      }
    }
    for (const placeholder of this.placeholders) placeholder.hidden = cell !== null;
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
    for (const cell of this.cells.values()) cell.viewport.destroy();
    this.cells.clear();
    this.slotCells.clear();
    this.thumbnailListeners.clear();
    this.viewportListeners.clear();
    this.root.remove();
  }
}
