// Public API of the viewer (documented in docs/frontend-viewer.md).
export * from "./geometry";
export * from "./types";
