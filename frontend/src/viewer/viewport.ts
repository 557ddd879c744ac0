// One image viewport: WebGL2 canvas, overlay SVG for the annotation layer, mouse interaction and
// the loading sequence (8-bit display PNG first for a fast first paint, then the 16-bit full
// resolution data). It knows nothing about reads, findings or the workflow.
import { decodeFullDepth, fetchBytes, type FullDepthData } from "./decoder";
import {
  canvasArea,
  clampZoom,
  fitView,
  imageBoxToScreenRect,
  imageRectOnScreen,
  imageToScreen,
  imageToScreenMatrix,
  panBy,
  scaleOf,
  screenRectToImageBox,
  screenToImage,
  windowFromDrag,
  zoomAbout,
  type Box,
  type CanvasArea,
  type FitAlign,
  type Point,
  type Rect,
  type Size,
  type Transform,
  type ViewState,
  type WindowLevel,
} from "./geometry";
import { type DrawParams, Renderer } from "./renderer";
import { type LoupeSpec, loupeDeviceRect, loupeMap, loupeRect } from "./loupe";
import type { ChangeSource, ImageInfo, Interaction, ViewportStatus, WindowPreset } from "./types";

export interface ViewportOptions {
  /** Where the image sits at fit (on screen, after mirroring). Default centred. */
  fitAlign?: FitAlign;
  /** Corner label, e.g. "RCC". */
  label?: string;
  /**
   * Hold the 16-bit download and decode until this settles (as well as until this viewport's
   * preview is drawn). HangingLayout passes "all four previews drawn" so that no full-depth
   * transfer competes with the first paint of the other views.
   */
  fullDepthAfter?: Promise<unknown>;
  /**
   * When the image has a reduced full-depth PNG (`urls.depth`), that is loaded first and the
   * full-resolution one only after this settles too. HangingLayout passes "every view has its
   * 16-bit data", so the big transfers never delay another view's full bit depth.
   */
  fullResolutionAfter?: Promise<unknown>;
}

type Listener<A extends unknown[]> = (...args: A) => void;

class Emitter<A extends unknown[]> {
  private readonly listeners = new Set<Listener<A>>();
  add(listener: Listener<A>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(...args: A): void {
    for (const listener of [...this.listeners]) listener(...args);
  }
  clear(): void {
    this.listeners.clear();
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";
const WHEEL_ZOOM_PER_PIXEL = 0.0015;
const DRAG_ZOOM_PER_PIXEL = 0.01;

interface Drag {
  pointerId: number;
  mode: Exclude<Interaction, "none">;
  start: Point;
  last: Point;
  startWindow: WindowLevel;
  startView: ViewState;
}

export class Viewport {
  readonly root: HTMLDivElement;
  readonly overlay: SVGSVGElement;
  readonly imageLayer: SVGGElement;
  /** Resolves true once the 16-bit data is on the GPU, false if it could not be loaded. */
  fullDepthReady: Promise<boolean> = Promise.resolve(false);
  /** True when the full-resolution 16-bit data is on the GPU (after `fullDepthReady` when the
   *  image has a reduced full-depth PNG; the same moment when it has not). */
  fullResolutionReady: Promise<boolean> = Promise.resolve(false);
  /** Frames drawn so far (bench/ui.py reads it to measure window/level frame rate). */
  frameCount = 0;

  private readonly info: HTMLDivElement;
  private readonly labelEl: HTMLDivElement;
  private readonly messageEl: HTMLDivElement;
  private readonly loupeEl: HTMLDivElement;
  private readonly canvas: HTMLCanvasElement;
  /** Where the canvas was last placed (it covers only the image's part of the viewport). */
  private placedArea = "";
  private loupeSpec: LoupeSpec | null = null;
  /** 2 while an interaction redraws several views per frame (`setInteractiveQuality`), else 1. */
  private resolutionDivisor = 1;
  private loupePoint: Point | null = null;
  /** What the loupe showed in the last frame (tests and the bench read it). */
  loupeInfo: { factor: number; size: number; center: Point; imagePerCss: number; depth: "full" | "display" } | null = null;
  private renderer: Renderer | null = null;
  private readonly fitAlign: FitAlign;
  private readonly fixedLabel: string | undefined;
  private readonly fullDepthAfter: Promise<unknown>;
  private readonly fullResolutionAfter: Promise<unknown>;
  private currentImage: ImageInfo | null = null;
  private currentStatus: ViewportStatus = "empty";
  private view: ViewState = { zoom: 1, centerX: 0, centerY: 0 };
  private window: WindowLevel = { center: 0.5, width: 1 };
  private inverted = false;
  private mode: Interaction = "windowLevel";
  /** True while the view is the fitted one: a resize then refits instead of keeping the centre. */
  private isFitted = true;
  private cssSize = { width: 0, height: 0 };
  private dataRange: { min: number; max: number } | null = null;
  private drag: Drag | null = null;
  private frameRequested = 0;
  private loadToken = 0;
  private destroyed = false;
  private readonly resizeObserver: ResizeObserver;
  private readonly viewChange = new Emitter<[ViewState, ChangeSource]>();
  private readonly redraw = new Emitter<[]>();
  private readonly windowChange = new Emitter<[WindowLevel, ChangeSource]>();
  private readonly statusChange = new Emitter<[ViewportStatus]>();
  private readonly cleanup: (() => void)[] = [];

  constructor(container: HTMLElement, options: ViewportOptions = {}) {
    this.fitAlign = options.fitAlign ?? { x: "center", y: "center" };
    this.fixedLabel = options.label;
    this.fullDepthAfter = options.fullDepthAfter ?? Promise.resolve();
    this.fullResolutionAfter = options.fullResolutionAfter ?? Promise.resolve();
    const root = document.createElement("div");
    root.className = "mv-viewport";
    // touch-action none: the viewport handles its own pointer gestures; user-select none so a
    // drag never selects page text.
    root.style.cssText =
      "position:relative;overflow:hidden;width:100%;height:100%;background:#000;" +
      "touch-action:none;user-select:none;-webkit-user-select:none;outline:none;";
    root.tabIndex = -1;
    this.root = root;

    const canvas = document.createElement("canvas");
    canvas.style.cssText = "position:absolute;left:0;top:0;width:100%;height:100%;display:block;";
    root.appendChild(canvas);
    this.canvas = canvas;

    const overlay = document.createElementNS(SVG_NS, "svg");
    overlay.setAttribute("class", "mv-overlay");
    overlay.style.cssText = "position:absolute;inset:0;width:100%;height:100%;overflow:hidden;";
    const imageLayer = document.createElementNS(SVG_NS, "g");
    imageLayer.setAttribute("class", "mv-image-layer");
    overlay.appendChild(imageLayer);
    root.appendChild(overlay);
    this.overlay = overlay;
    this.imageLayer = imageLayer;

    const textStyle =
      "position:absolute;pointer-events:none;color:#e8e8e8;font:12px/1.3 system-ui,sans-serif;" +
      "text-shadow:0 0 2px #000,0 0 2px #000;white-space:pre;";
    this.labelEl = document.createElement("div");
    this.labelEl.className = "mv-label";
    this.labelEl.style.cssText = textStyle + "top:6px;left:8px;font-weight:600;font-size:14px;";
    this.labelEl.textContent = options.label ?? "";
    this.info = document.createElement("div");
    this.info.className = "mv-info";
    this.info.style.cssText = textStyle + "bottom:6px;left:8px;";
    this.messageEl = document.createElement("div");
    this.messageEl.className = "mv-message";
    this.messageEl.style.cssText =
      textStyle + "top:50%;left:0;right:0;text-align:center;transform:translateY(-50%);";
    // The magnifier's frame; its pixels are drawn into the canvas by the renderer.
    this.loupeEl = document.createElement("div");
    this.loupeEl.className = "mv-loupe";
    this.loupeEl.hidden = true;
    this.loupeEl.style.cssText =
      "position:absolute;pointer-events:none;box-sizing:border-box;border:2px solid #f7e463;" +
      "box-shadow:0 0 0 1px #000,0 0 12px rgba(0,0,0,.8);";
    root.append(this.labelEl, this.info, this.messageEl, this.loupeEl);
    container.appendChild(root);

    try {
      this.renderer = new Renderer(canvas);
    } catch (error) {
      this.setStatus("error");
      this.messageEl.textContent = String(error instanceof Error ? error.message : error);
    }

    const onLost = (e: Event): void => {
      // preventDefault asks the browser to restore the context later.
      e.preventDefault();
      this.renderer = null;
    };
    const onRestored = (): void => {
      this.renderer = new Renderer(canvas);
      if (this.currentImage) void this.reloadPixels(this.currentImage);
    };
    canvas.addEventListener("webglcontextlost", onLost);
    canvas.addEventListener("webglcontextrestored", onRestored);
    this.cleanup.push(() => {
      canvas.removeEventListener("webglcontextlost", onLost);
      canvas.removeEventListener("webglcontextrestored", onRestored);
    });
    this.listen(root, "pointerdown", (e) => this.onPointerDown(e));
    this.listen(root, "pointermove", (e) => this.onPointerMove(e));
    this.listen(root, "pointerup", (e) => this.onPointerUp(e));
    this.listen(root, "pointercancel", (e) => this.onPointerUp(e));
    this.listen(root, "pointermove", (e) => this.moveLoupe(this.localPoint(e)));
    this.listen(root, "pointerleave", () => this.moveLoupe(null));
    this.listen(root, "wheel", (e) => this.onWheel(e), { passive: false });
    this.listen(root, "dblclick", () => this.fit());
    // Middle-button drags pan: stop the browser's autoscroll from grabbing them.
    this.listen(root, "mousedown", (e) => {
      if (e.button === 1) e.preventDefault();
    });

    this.resizeObserver = new ResizeObserver(() => this.measure());
    this.resizeObserver.observe(root);
    this.measure();
  }

  private listen<K extends keyof HTMLElementEventMap>(
    target: HTMLElement,
    type: K,
    handler: (event: HTMLElementEventMap[K]) => void,
    options?: AddEventListenerOptions,
  ): void {
    target.addEventListener(type, handler as EventListener, options);
    this.cleanup.push(() => target.removeEventListener(type, handler as EventListener, options));
  }

  // ---- state ------------------------------------------------------------------------------

  get image(): ImageInfo | null {
    return this.currentImage;
  }

  get status(): ViewportStatus {
    return this.currentStatus;
  }

  get interaction(): Interaction {
    return this.mode;
  }

  get invert(): boolean {
    return this.inverted;
  }

  /** Presets from the DICOM (first = default), in modality value space. */
  get presets(): readonly WindowPreset[] {
    return this.currentImage?.window_presets ?? [];
  }

  /** Screen (CSS) pixels per image pixel right now. */
  get scale(): number {
    return this.currentImage ? scaleOf(this.transform()) : 1;
  }

  /**
   * 1 when zoomed-in views show native pixels; 2^n when the image exceeded the GPU's
   * MAX_TEXTURE_SIZE and is shown from the n-th pyramid level.
   */
  /** "preview" while the view shows the reduced 16-bit data, "full" once native; null before. */
  get resolution(): "preview" | "full" | null {
    return (this.root.dataset.resolution as "preview" | "full" | undefined) ?? null;
  }

  get fullDepthDownsample(): number {
    return 2 ** (this.renderer?.fullBaseLevel ?? 0);
  }

  private setStatus(status: ViewportStatus): void {
    if (status === this.currentStatus) return;
    this.currentStatus = status;
    this.root.dataset.status = status;
    this.statusChange.emit(status);
  }

  private transform(): Transform {
    const image = this.currentImage;
    return {
      image: { width: image?.columns ?? 1, height: image?.rows ?? 1 },
      viewport: this.cssSize,
      flipH: image?.display_flip_horizontal ?? false,
      view: this.view,
    };
  }

  // ---- loading ----------------------------------------------------------------------------

  /**
   * Show `image`: resolves once its 8-bit display image is drawn (the fast first paint); the
   * 16-bit data follows in the background (`fullDepthReady`), and the viewport switches to it
   * without changing the view or the window.
   */
  async load(image: ImageInfo): Promise<void> {
    this.currentImage = image;
    this.dataRange = null;
    this.inverted = false;
    this.root.dataset.invert = "false";
    this.labelEl.textContent = this.fixedLabel ?? `${image.laterality}${image.view_position}`;
    this.resetWindow("api");
    this.isFitted = true;
    this.applyFit("api");
    await this.reloadPixels(image);
  }

  private async reloadPixels(image: ImageInfo): Promise<void> {
    const token = ++this.loadToken;
    const renderer = this.renderer;
    if (!renderer) return;
    renderer.clearImages();
    this.setStatus("loading");
    this.messageEl.textContent = "";
    this.requestRender();

    // The 16-bit download and decode wait until the preview is drawn (or has failed) and until
    // `fullDepthAfter`: on a small machine they compete for the CPU and the network with the
    // first paint, which is what the reader waits for. (Measured on 2 cores: full-depth
    // transfers running alongside made the four-view first paint 1.5-2x slower.)
    let displayDone = (): void => undefined;
    const displayed = new Promise<void>((resolve) => (displayDone = resolve));
    const gate = Promise.all([displayed, this.fullDepthAfter.catch(() => undefined)]).then(() => {
      // The full-depth shaders compile (in the background) while the 16-bit PNG downloads and
      // decodes, instead of after it.
      if (token === this.loadToken && !this.destroyed) this.renderer?.prepareFull();
    });
    // Full bit depth first from the reduced 16-bit PNG (a 16th of the pixels for a 4k image,
    // enough for every view at fit), then the full resolution for zoom and the magnifier.
    const upload = (levels: FullDepthData, downsample: number, resolution: "preview" | "full"): boolean => {
      if (token !== this.loadToken || !this.renderer || this.destroyed) return false;
      this.renderer.uploadFull(levels.levels, downsample);
      this.dataRange = { min: levels.min, max: levels.max };
      this.root.dataset.resolution = resolution;
      this.setStatus("full");
      this.updateInfo();
      this.requestRender();
      return true;
    };
    const depthUrl = image.urls.depth;
    delete this.root.dataset.resolution;
    // The reduced PNG (~0.1-0.2 MB, smaller than the 8-bit one) still waits for the first paint
    // of all views: started alongside, its decode and the full-depth shader compiles made the
    // four-view first paint ~1.5x slower on 2 cores and brought the full depth no sooner.
    // (Starting only its download at open was tried too: no sooner full depth, and the first
    // paint of four views ~0.2 s later on 2 cores, the server's CPU included.)
    const depth = depthUrl
      ? gate.then(() => fetchBytes(depthUrl)).then(decodeFullDepth).then(
        (data) => upload(data, previewLevel(image, data), "preview"),
        () => false)  // the full resolution below still makes it
      : Promise.resolve(false);
    this.fullResolutionReady = (depthUrl
      ? Promise.all([gate, depth, this.fullResolutionAfter.catch(() => undefined)])
      : gate).then(() => fetchBytes(image.urls.full)).then(decodeFullDepth).then(
      (data) => upload(data, 0, "full"),
      (error: unknown) => {
        if (token === this.loadToken && this.currentStatus !== "display" && this.currentStatus !== "full") {
          this.fail(error);
        }
        return false;
      },
    );
    this.fullDepthReady = depthUrl
      ? depth.then((ok) => ok || this.fullResolutionReady)
      : this.fullResolutionReady;

    try {
      const response = await fetch(image.urls.display, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status} for the display image`);
      const blob = await response.blob();
      const size = await this.previewDecodeSize(blob);
      const bitmap = await createImageBitmap(blob, size);
      if (token !== this.loadToken || !this.renderer || this.destroyed) {
        bitmap.close();
        return;
      }
      // The full depth may already be there (cached): never go back to the 8-bit preview.
      if (!this.renderer.hasFull) {
        this.renderer.uploadDisplay(bitmap, size.resizeWidth === undefined);
        this.setStatus("display");
      }
      bitmap.close();
      await this.nextFrame();
      displayDone();
    } catch (error) {
      displayDone();
      // Without the preview the full depth can still make it; only fail if it does not.
      if (!(await this.fullDepthReady) && token === this.loadToken) {
        this.fail(error);
        throw error;
      }
    }
  }

  /**
   * Decode the 8-bit preview straight to the size it is shown at (the browser resamples it while
   * decoding, off the main thread) when that is smaller than the PNG: a texture of the shown
   * pixels, no mipmaps to build. On a software rasteriser the upload and mipmaps of a 2,048 px
   * RGBA preview took 100-300 ms of GPU-thread time per view, one view after another.
   */
  private async previewDecodeSize(blob: Blob): Promise<ImageBitmapOptions> {
    const image = this.currentImage;
    if (!image || this.cssSize.width === 0 || this.cssSize.height === 0) return {};
    // IHDR: width and height at bytes 16-23 of a PNG file.
    const header = new DataView(await blob.slice(0, 24).arrayBuffer());
    if (header.byteLength < 24 || header.getUint32(0) !== 0x89504e47) return {};
    const [pngWidth, pngHeight] = [header.getUint32(16), header.getUint32(20)];
    const devicePerImagePx = scaleOf(this.transform()) * (window.devicePixelRatio || 1);
    const width = Math.ceil(image.columns * devicePerImagePx);
    const height = Math.ceil(image.rows * devicePerImagePx);
    if (width >= pngWidth || height >= pngHeight || width < 1 || height < 1) return {};
    return { resizeWidth: width, resizeHeight: height, resizeQuality: "medium" };
  }

  private fail(error: unknown): void {
    this.setStatus("error");
    this.messageEl.textContent = `Image could not be loaded: ${error instanceof Error ? error.message : String(error)}`;
  }

  /** Resolves after the next frame has been drawn. */
  private nextFrame(): Promise<void> {
    this.requestRender();
    return new Promise((resolve) => requestAnimationFrame(() => resolve()));
  }

  // ---- view -------------------------------------------------------------------------------

  /** True while the view is the fitted one (no zoom or pan since load() or fit()). */
  get fitted(): boolean {
    return this.isFitted;
  }

  getView(): ViewState {
    return { ...this.view };
  }

  /** Set zoom and centre (from code or synchronisation: emits a view change with source "api"). */
  setView(view: ViewState): void {
    this.isFitted = false;
    this.updateView({ ...view, zoom: clampZoom(view.zoom) }, "api");
  }

  fit(): void {
    this.isFitted = true;
    this.applyFit("user");
  }

  private applyFit(source: ChangeSource): void {
    const t = this.transform();
    const view = this.fitter ? this.fitter(t.viewport) : fitView(t.image, t.viewport, t.flipH, this.fitAlign);
    this.updateView(view, source);
  }

  private fitter: ((viewport: Size) => ViewState) | null = null;

  /**
   * Replace what "fit" means (default: the whole image, aligned per fitAlign). The hanging
   * layout sets one that fits the breast, the film, true size or 1:1 (fit.ts). Refits when fitted.
   */
  setFitter(fitter: ((viewport: Size) => ViewState) | null): void {
    this.fitter = fitter;
    if (this.isFitted && this.currentImage) this.applyFit("api");
  }

  /** Re-apply the fit when the view is still the fitted one (the fit's inputs changed). */
  refit(): void {
    if (this.isFitted && this.currentImage) this.applyFit("api");
  }

  /** The viewport's size in CSS px as last measured. */
  get size(): Size {
    return { ...this.cssSize };
  }

  zoomAt(screenPoint: Point, factor: number): void {
    this.isFitted = false;
    this.updateView(zoomAbout(this.transform(), screenPoint, factor), "user");
  }

  private updateView(view: ViewState, source: ChangeSource): void {
    this.view = view;
    this.placeOverlay();
    this.updateInfo();
    this.requestRender();
    this.viewChange.emit(this.getView(), source);
    this.redraw.emit();
  }

  private placeOverlay(): void {
    const [a, b, c, d, e, f] = imageToScreenMatrix(this.transform());
    this.imageLayer.setAttribute("transform", `matrix(${a} ${b} ${c} ${d} ${e} ${f})`);
  }

  private measure(): void {
    const rect = this.root.getBoundingClientRect();
    if (rect.width === this.cssSize.width && rect.height === this.cssSize.height) return;
    this.cssSize = { width: rect.width, height: rect.height };
    this.overlay.setAttribute("viewBox", `0 0 ${rect.width} ${rect.height}`);
    if (this.isFitted && this.currentImage) {
      this.applyFit("api");
    } else {
      this.placeOverlay();
      this.redraw.emit();
      this.requestRender();
    }
  }

  // ---- window / level ---------------------------------------------------------------------

  getWindow(): WindowLevel {
    return { ...this.window };
  }

  setWindow(center: number, width: number): void {
    this.updateWindow({ center, width: Math.max(1, width) }, "api");
  }

  applyPreset(index: number): void {
    const preset = this.presets[index];
    if (preset) this.updateWindow({ center: preset.center, width: preset.width }, "api");
  }

  /** Back to the default preset, or the data's value range when the DICOM had none. */
  resetWindow(source: ChangeSource = "api"): void {
    const preset = this.presets[0];
    if (preset) {
      this.updateWindow({ center: preset.center, width: preset.width }, source);
      return;
    }
    const image = this.currentImage;
    const range = this.dataRange ?? { min: 0, max: 65535 };
    const slope = image?.full_depth_scale ?? 1;
    const intercept = image?.full_depth_offset ?? 0;
    const lo = range.min * slope + intercept;
    const hi = range.max * slope + intercept;
    this.updateWindow({ center: (lo + hi) / 2, width: Math.max(1, Math.abs(hi - lo)) }, source);
  }

  setInvert(on: boolean): void {
    this.inverted = on;
    this.root.dataset.invert = String(on);
    this.updateInfo();
    this.requestRender();
  }

  private updateWindow(window: WindowLevel, source: ChangeSource): void {
    this.window = window;
    this.updateInfo();
    this.requestRender();
    this.windowChange.emit(this.getWindow(), source);
  }

  /** The modality-value span a full drag across the viewport should sweep. */
  private windowDragRange(): number {
    const image = this.currentImage;
    if (this.dataRange && image) {
      return Math.abs((this.dataRange.max - this.dataRange.min) * image.full_depth_scale) || 1;
    }
    return Math.max(this.presets[0]?.width ?? 0, this.window.width) * 2;
  }

  private updateInfo(): void {
    const w = this.window;
    const zoom = this.view.zoom;
    // Say so when the GPU could not hold the full resolution (MAX_TEXTURE_SIZE): the reader must
    // know that zoomed-in detail is not native.
    const downsample = this.currentStatus === "full" ? this.fullDepthDownsample : 1;
    this.info.textContent =
      `W ${Math.round(w.width)}  L ${Math.round(w.center)}` +
      `${this.inverted ? "  inverted" : ""}  ${zoom.toFixed(zoom < 10 ? 2 : 1)}x` +
      `${downsample > 1 ? (this.resolution === "preview" ? `  (1/${downsample} resolution: loading full)`
        : `  (1/${downsample} resolution: image exceeds the GPU's texture size)`) : ""}`;
  }

  // ---- interaction ------------------------------------------------------------------------

  setInteraction(mode: Interaction): void {
    this.mode = mode;
    this.root.dataset.interaction = mode;
    this.root.style.cursor =
      mode === "pan" ? "grab" : mode === "zoom" ? "zoom-in" : mode === "windowLevel" ? "crosshair" : "";
  }

  private localPoint(e: MouseEvent): Point {
    const rect = this.root.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  private onPointerDown(e: PointerEvent): void {
    if (!this.currentImage || this.drag) return;
    let mode: Drag["mode"] | null = null;
    if (e.button === 1) mode = "pan";
    else if (e.button === 0 && this.mode !== "none") mode = this.mode;
    if (!mode) return;
    e.preventDefault();
    this.root.focus({ preventScroll: true });
    this.root.setPointerCapture(e.pointerId);
    const p = this.localPoint(e);
    this.drag = { pointerId: e.pointerId, mode, start: p, last: p, startWindow: this.getWindow(), startView: this.getView() };
  }

  private onPointerMove(e: PointerEvent): void {
    const drag = this.drag;
    if (!drag || e.pointerId !== drag.pointerId) return;
    const p = this.localPoint(e);
    if (drag.mode === "windowLevel") {
      const w = windowFromDrag(drag.startWindow, p.x - drag.start.x, p.y - drag.start.y, this.windowDragRange());
      this.updateWindow(w, "user");
    } else if (drag.mode === "pan") {
      this.isFitted = false;
      this.updateView(panBy(this.transform(), p.x - drag.last.x, p.y - drag.last.y), "user");
    } else {
      // Zoom about where the drag started, from the view at drag start: drag up = zoom in.
      this.isFitted = false;
      const factor = Math.exp(-(p.y - drag.start.y) * DRAG_ZOOM_PER_PIXEL);
      this.updateView(zoomAbout({ ...this.transform(), view: drag.startView }, drag.start, factor), "user");
    }
    drag.last = p;
  }

  private onPointerUp(e: PointerEvent): void {
    if (!this.drag || e.pointerId !== this.drag.pointerId) return;
    if (this.root.hasPointerCapture(e.pointerId)) this.root.releasePointerCapture(e.pointerId);
    this.drag = null;
  }

  private onWheel(e: WheelEvent): void {
    if (!this.currentImage) return;
    e.preventDefault();
    // Lines and pages (Firefox, some mice) to pixels, roughly.
    const unit = e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? this.cssSize.height : 1;
    this.zoomAt(this.localPoint(e), Math.exp(-e.deltaY * unit * WHEEL_ZOOM_PER_PIXEL));
  }

  // ---- interactive quality ----------------------------------------------------------------

  /**
   * While on, the canvas is drawn at half its device resolution (the browser scales it up):
   * a quarter of the pixels per frame. The layout turns it on during a linked window/level drag,
   * where four views redraw every frame and a software rasteriser is pixel-bound, and off
   * (full resolution, one redraw) as soon as the drag pauses.
   */
  setInteractiveQuality(on: boolean): void {
    const divisor = on ? 2 : 1;
    if (divisor === this.resolutionDivisor) return;
    this.resolutionDivisor = divisor;
    this.root.dataset.quality = on ? "interactive" : "full";
    this.requestRender();
  }

  // ---- magnifier --------------------------------------------------------------------------

  /** Show a loupe that follows the pointer over this view (null: off). See loupe.ts. */
  setLoupe(spec: LoupeSpec | null): void {
    this.loupeSpec = spec ? { ...spec } : null;
    if (!spec) this.loupeInfo = null;
    this.requestRender();
  }

  get loupe(): LoupeSpec | null {
    return this.loupeSpec ? { ...this.loupeSpec } : null;
  }

  private moveLoupe(p: Point | null): void {
    this.loupePoint = p;
    if (this.loupeSpec || !this.loupeEl.hidden) this.requestRender();
  }

  // ---- coordinates ------------------------------------------------------------------------

  imageToScreen(p: Point): Point {
    return imageToScreen(this.transform(), p);
  }

  screenToImage(p: Point): Point {
    return screenToImage(this.transform(), p);
  }

  screenRectToImageBox(a: Point, b: Point): Box {
    return screenRectToImageBox(this.transform(), a, b);
  }

  imageBoxToScreenRect(box: Box): Rect {
    return imageBoxToScreenRect(this.transform(), box);
  }

  // ---- events -----------------------------------------------------------------------------

  onViewChange(cb: (view: ViewState, source: ChangeSource) => void): () => void {
    return this.viewChange.add(cb);
  }

  /** After every zoom, pan or resize: overlays drawn in screen coordinates re-place themselves. */
  onRedraw(cb: () => void): () => void {
    return this.redraw.add(cb);
  }

  onWindowChange(cb: (window: WindowLevel, source: ChangeSource) => void): () => void {
    return this.windowChange.add(cb);
  }

  onStatusChange(cb: (status: ViewportStatus) => void): () => void {
    return this.statusChange.add(cb);
  }

  // ---- drawing ----------------------------------------------------------------------------

  /** Coalesce any number of changes into one draw on the next animation frame. */
  requestRender(): void {
    if (this.frameRequested || this.destroyed) return;
    this.frameRequested = requestAnimationFrame(() => {
      this.frameRequested = 0;
      this.render();
    });
  }

  private render(): void {
    const renderer = this.renderer;
    const image = this.currentImage;
    if (!renderer || renderer.gl.isContextLost()) return;
    // Device px per CSS px of the canvas's backing store (halved while interactive).
    const dpr = (window.devicePixelRatio || 1) / this.resolutionDivisor;
    const t = this.transform();
    const whole = { x: 0, y: 0, width: this.cssSize.width, height: this.cssSize.height };
    // The canvas covers the image only (black around it is the viewport's background): fewer
    // pixels to shade, read back and composite on a software rasteriser. With the magnifier on
    // it covers the whole viewport, since the loupe shows image next to the image's edge.
    const area = this.placeCanvas(canvasArea(image && !this.loupeSpec ? imageRectOnScreen(t) : whole, this.cssSize, dpr));
    renderer.resize(area.deviceWidth, area.deviceHeight);
    if (!image) {
      renderer.draw({ ...this.drawDefaults(), devicePixelRatio: dpr });
      return;
    }
    const s = scaleOf(t);
    // The renderer maps canvas CSS px (from the canvas's own top-left) to image px.
    const origin = screenToImage(t, { x: area.x, y: area.y });
    const flip = image.display_flip_horizontal;
    const defaultPreset = this.presets[0] ?? { center: this.window.center, width: this.window.width };
    const monochrome1 = image.photometric_interpretation === "MONOCHROME1";
    const params: DrawParams = {
      screenToImage: { sx: flip ? -1 / s : 1 / s, ox: origin.x, sy: 1 / s, oy: origin.y },
      devicePixelRatio: dpr,
      imageWidth: image.columns,
      imageHeight: image.rows,
      imagePerCss: 1 / s,
      windowCenter: this.window.center,
      windowWidth: this.window.width,
      // MONOCHROME1 stores "higher = darker": inverting after the window shows it like
      // MONOCHROME2; the user's invert toggles on top of that.
      invertOutput: monochrome1 !== this.inverted,
      rescaleSlope: image.full_depth_scale,
      rescaleIntercept: image.full_depth_offset,
      defaultCenter: defaultPreset.center,
      defaultWidth: defaultPreset.width,
      monochrome1,
    };
    renderer.draw(params);
    this.drawLoupe(renderer, params, dpr, area);
    this.frameCount++;
  }

  /** Move and size the canvas element to `area` (only when it changed: a style write is a layout). */
  private placeCanvas(area: CanvasArea): CanvasArea {
    const key = `${area.x},${area.y},${area.width},${area.height}`;
    if (key !== this.placedArea) {
      this.placedArea = key;
      Object.assign(this.canvas.style, { left: `${area.x}px`, top: `${area.y}px`, width: `${area.width}px`, height: `${area.height}px` });
    }
    return area;
  }

  private drawLoupe(renderer: Renderer, params: DrawParams, dpr: number, area: CanvasArea): void {
    const spec = this.loupeSpec;
    const at = this.loupePoint;
    const canvas = renderer.gl.canvas as HTMLCanvasElement;
    const rect = spec && at ? loupeRect(at, spec.size) : null;
    // The renderer works in canvas coordinates: the pointer and the square relative to the canvas.
    const local = at ? { x: at.x - area.x, y: at.y - area.y } : null;
    const device = rect ? loupeDeviceRect({ ...rect, x: rect.x - area.x, y: rect.y - area.y }, dpr, canvas) : null;
    const depth = spec && local && device
      ? renderer.drawLoupe({ ...params, screenToImage: loupeMap(params.screenToImage, local, spec.factor),
        imagePerCss: params.imagePerCss / spec.factor }, device)
      : null;
    if (!spec || !at || !rect || !depth) {
      this.loupeEl.hidden = true;
      if (!spec) this.loupeInfo = null;
      return;
    }
    Object.assign(this.loupeEl.style, { left: `${rect.x}px`, top: `${rect.y}px`, width: `${rect.width}px`, height: `${rect.height}px` });
    this.loupeEl.dataset.factor = String(spec.factor);
    this.loupeEl.dataset.depth = depth;
    this.loupeEl.hidden = false;
    this.loupeInfo = { factor: spec.factor, size: spec.size, center: this.screenToImage(at), imagePerCss: params.imagePerCss / spec.factor, depth };
  }

  private drawDefaults(): Omit<Parameters<Renderer["draw"]>[0], "devicePixelRatio"> {
    return {
      screenToImage: { sx: 1, ox: 0, sy: 1, oy: 0 },
      imageWidth: 1,
      imageHeight: 1,
      imagePerCss: 1,
      windowCenter: 0,
      windowWidth: 1,
      invertOutput: false,
      rescaleSlope: 1,
      rescaleIntercept: 0,
      defaultCenter: 0,
      defaultWidth: 1,
      monochrome1: false,
    };
  }

  destroy(): void {
    this.destroyed = true;
    this.loadToken++;
    if (this.frameRequested) cancelAnimationFrame(this.frameRequested);
    this.resizeObserver.disconnect();
    for (const undo of this.cleanup) undo();
    this.viewChange.clear();
    this.redraw.clear();
    this.windowChange.clear();
    this.statusChange.clear();
    this.renderer?.destroy();
    this.renderer = null;
    this.root.remove();
  }
}

/** How many times the reduced full-depth PNG was halved (its size against the image's). */
function previewLevel(image: ImageInfo, data: FullDepthData): number {
  const first = data.levels[0];
  if (!first) return 0;
  return Math.max(0, Math.round(Math.log2(Math.max(image.columns / first.width, image.rows / first.height))));
}
