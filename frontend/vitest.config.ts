import { defineConfig } from "vitest/config";

// Unit tests are pure (geometry, state); DOM/WebGL behaviour is covered in real Chromium by the
// end-to-end tests and bench/ui.py.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
    setupFiles: ["src/testing/setup.ts"],
  },
});
