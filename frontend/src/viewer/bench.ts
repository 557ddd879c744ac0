// Viewer bench page driven by bench/ui.py; filled in with the viewer.
export {};
