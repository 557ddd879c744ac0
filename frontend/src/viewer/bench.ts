// Bench page (bench.html) driven by bench/ui.py in headless Chromium. Modes:
//   ?mode=viewer&exam=URL  hang the exam with the viewer; record when the four views are drawn
//                          (8-bit display), when all four have 16-bit data on the GPU (the
//                          reduced full-depth PNG first when there is one: fullMs) and when all
//                          four have it at full resolution (fullResMs);
//   ?mode=img&exam=URL     floor: the same four display PNGs in plain <img> tags, then the four
//                          16-bit PNGs fetched and decoded by the browser's own decoder
//                          (createImageBitmap) and drawn on a bare 2D canvas: first the reduced
//                          ones (fullMs), then the full-resolution ones (fullResMs).
// Both record the first pixels (first view drawn) too.
// Times are from navigation start (performance.now()), so they include loading this page's code.
import { HangingLayout } from "./hanging";
import type { ImageInfo } from "./types";

interface BenchState {
  mode: string;
  firstMs: number | null;
  readyMs: number | null;
  fullMs: number | null;
  fullResMs: number | null;
  error: string | null;
  layout: HangingLayout | null;
  /** requestAnimationFrame callbacks per second over `ms`, with nothing else going on. */
  rafFps: (ms: number) => Promise<number>;
}

declare global {
  interface Window {
    __bench: BenchState;
  }
}

const state: BenchState = {
  mode: "",
  firstMs: null,
  readyMs: null,
  fullMs: null,
  fullResMs: null,
  error: null,
  layout: null,
  rafFps: (ms: number) =>
    new Promise((resolve) => {
      let frames = 0;
      const start = performance.now();
      const tick = (now: number): void => {
        if (now - start >= ms) {
          resolve((frames * 1000) / (now - start));
          return;
        }
        frames++;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    }),
};
window.__bench = state;

function nextFrame(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

async function run(): Promise<void> {
  const params = new URLSearchParams(location.search);
  state.mode = params.get("mode") ?? "viewer";
  const examUrl = params.get("exam") ?? "exam.json";
  const host = document.getElementById("bench");
  if (!host) throw new Error("bench.html has no #bench element");
  document.body.style.cssText = "margin:0;background:#000;";
  host.style.cssText = "position:fixed;inset:0;";
  const images = (await (await fetch(examUrl)).json()) as ImageInfo[];

  if (state.mode === "img") {
    host.style.cssText += "display:grid;grid-template-columns:1fr 1fr;grid-template-rows:1fr 1fr;gap:2px;";
    const tags = images.slice(0, 4).map((image) => {
      const img = document.createElement("img");
      img.src = image.urls.display;
      img.style.cssText = "width:100%;height:100%;object-fit:contain;min-height:0;";
      host.appendChild(img);
      return img;
    });
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 64;
    const ctx = canvas.getContext("2d")!;
    const decodeAll = (urls: string[]): Promise<void[]> => Promise.all(urls.map(async (url) => {
      const bitmap = await createImageBitmap(await (await fetch(url)).blob());
      ctx.drawImage(bitmap, 0, 0, 64, 64);
      bitmap.close();
    }));
    const four = images.slice(0, 4);
    await Promise.all(tags.map((img) => img.decode().then(() => (state.firstMs ??= performance.now()))));
    await nextFrame();
    state.readyMs = performance.now();
    // As the viewer does: the reduced 16-bit PNGs once the display ones are drawn.
    await decodeAll(four.map((i) => i.urls.depth ?? i.urls.full));
    await nextFrame();
    state.fullMs = performance.now();
    await decodeAll(four.map((i) => i.urls.full));
    await nextFrame();
    state.fullResMs = performance.now();
    return;
  }

  const layout = new HangingLayout(host, images);
  state.layout = layout;
  for (const vp of layout.viewports) {
    vp.onStatusChange((status) => {
      if (status === "display" || status === "full") state.firstMs ??= performance.now();
    });
  }
  await layout.ready;
  state.readyMs = performance.now();
  const full = await Promise.all(layout.viewports.map((vp) => vp.fullDepthReady));
  if (full.every(Boolean)) {
    await nextFrame();
    state.fullMs = performance.now();
  } else {
    state.error = "full-depth data failed to load";
    return;
  }
  const native = await Promise.all(layout.viewports.map((vp) => vp.fullResolutionReady));
  if (native.every(Boolean)) {
    await nextFrame();
    state.fullResMs = performance.now();
  } else {
    state.error = "full-resolution data failed to load";
  }
}

run().catch((error: unknown) => {
  state.error = String(error);
  console.error(error);
});
