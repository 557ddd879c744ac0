// Public API of the viewer (documented in docs/frontend-viewer.md).
export * from "./geometry";
export * from "./types";
export { Viewport, type ViewportOptions } from "./viewport";
export { HangingLayout, assignSlots, type LayoutName } from "./hanging";
export * from "./fit";
export * from "./loupe";
