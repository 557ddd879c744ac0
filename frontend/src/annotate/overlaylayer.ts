// What the box and length layers share: a group of shapes in one viewport's overlay SVG, redrawn
// on every view change, and the pointer plumbing of a drag that the layer, not the viewer, owns.
// Listeners sit in the capture phase on the viewport root, so a layer sees a press before the
// viewer starts its own window/level or pan drag and stops it only when the press is its own.

import type { Viewport } from "../viewer";
import type { Point } from "./boxgeom";

const SVG = "http://www.w3.org/2000/svg";

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** A layer's drag in progress: whatever it needs, and the pointer it follows. */
export interface LayerDrag {
  pointerId: number;
}

export abstract class OverlayLayer<D extends LayerDrag> {
  protected readonly group: SVGGElement;
  /** The layer's drag in progress: only its pointer's moves and release reach dragMove / dragEnd. */
  protected drag: D | null = null;
  private readonly unsubscribe: (() => void)[] = [];

  /** Subclasses call `this.render()` at the end of their constructor (their options are set then). */
  protected constructor(
    protected readonly vp: Viewport,
    groupClass: string,
  ) {
    this.group = svg("g", { class: groupClass });
    vp.overlay.append(this.group);
    const root = vp.root;
    const listen = (type: "pointerdown" | "pointermove" | "pointerup" | "pointercancel", handler: (e: PointerEvent) => void): void => {
      root.addEventListener(type, handler, true);
      this.unsubscribe.push(() => root.removeEventListener(type, handler, true));
    };
    listen("pointerdown", (e) => this.pointerDown(e));
    listen("pointermove", (e) => this.pointerMove(e));
    listen("pointerup", (e) => this.pointerUp(e));
    listen("pointercancel", (e) => this.pointerUp(e));
    this.unsubscribe.push(vp.onRedraw(() => this.render()));
  }

  /** A press on the viewport: start a drag (`startDrag`), take the press (`consume`) or leave it. */
  protected abstract pointerDown(e: PointerEvent): void;

  /** A move of the dragging pointer (already kept from the viewer). */
  protected abstract dragMove(drag: D, e: PointerEvent): void;

  /** The dragging pointer released or cancelled (the drag is over and the capture released). */
  protected abstract dragEnd(drag: D, e: PointerEvent): void;

  /** Re-place every shape from the layer's data and the current view. */
  abstract render(): void;

  destroy(): void {
    for (const u of this.unsubscribe) u();
    this.group.remove();
  }

  /** The event's position in overlay (screen) px. */
  protected screenPoint(e: PointerEvent): Point {
    const r = this.vp.overlay.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  /** Keep the press from the viewer (no window/level or pan drag starts under it). */
  protected consume(e: PointerEvent): void {
    e.stopPropagation();
    e.preventDefault();
  }

  /** `consume`, and capture the pointer so the drag goes on outside the view. */
  protected claim(e: PointerEvent): void {
    this.consume(e);
    try {
      this.vp.root.setPointerCapture(e.pointerId);
    } catch {
      // Synthetic events have no active pointer to capture; the drag still works.
    }
  }

  protected startDrag(e: PointerEvent, drag: D): void {
    this.drag = drag;
    this.claim(e);
  }

  /** Empty the group before drawing again. */
  protected clear(): void {
    const g = this.group;
    while (g.firstChild) g.removeChild(g.firstChild);
  }

  private pointerMove(e: PointerEvent): void {
    const d = this.drag;
    if (!d || e.pointerId !== d.pointerId) return;
    e.stopPropagation();
    this.dragMove(d, e);
  }

  private pointerUp(e: PointerEvent): void {
    const d = this.drag;
    if (!d || e.pointerId !== d.pointerId) return;
    e.stopPropagation();
    this.drag = null;
    try {
      this.vp.root.releasePointerCapture(e.pointerId);
    } catch {
      // Not captured (synthetic event): nothing to release.
    }
    this.dragEnd(d, e);
  }
}
