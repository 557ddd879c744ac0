import { resolve } from "node:path";
import { defineConfig } from "vite";

// Django serves the build from STATIC_URL (/static/) and finds hashed file names through
// dist/.vite/manifest.json, so the base and the manifest are part of the contract with the backend.
export default defineConfig({
  base: "/static/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    sourcemap: true,
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, "index.html"),
        bench: resolve(import.meta.dirname, "bench.html"),
      },
    },
  },
  worker: {
    format: "es",
  },
});
