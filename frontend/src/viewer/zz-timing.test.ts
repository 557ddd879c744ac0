import { readFileSync } from "node:fs";
import { it } from "vitest";
import { decodeGrayPng, readChunks, unfilter } from "/work/main/frontend/src/viewer/png";
import { buildPyramid, valueRange } from "/work/main/frontend/src/viewer/pyramid";
it("times", async () => {
  const buf = new Uint8Array(readFileSync("/work/main/test-output/bench-ui/site/data/3.full.png"));
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const img = await decodeGrayPng(buf);
    const t1 = performance.now();
    const lv = buildPyramid({ width: img.width, height: img.height, data: img.data });
    const t2 = performance.now();
    valueRange(img.data);
    const t3 = performance.now();
    console.log("decode", (t1 - t0).toFixed(0), "pyramid", (t2 - t1).toFixed(0), "range", (t3 - t2).toFixed(0), lv.length);
  }
  const { header, idat } = readChunks(buf);
  const t0 = performance.now();
  const ds = new Blob([idat]).stream().pipeThrough(new DecompressionStream("deflate"));
  const raw = new Uint8Array(await new Response(ds).arrayBuffer());
  const t1 = performance.now();
  unfilter(raw, header.height, header.width * 2, 2);
  const t2 = performance.now();
  const counts = [0,0,0,0,0]; for (let y = 0; y < header.height; y++) counts[raw[y * (header.width*2+1)]!]!++;
  console.log("inflate", (t1 - t0).toFixed(0), "unfilter", (t2 - t1).toFixed(0), "filters", counts);
}, 60000);
