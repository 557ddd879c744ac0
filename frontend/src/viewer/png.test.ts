import { deflateSync } from "node:zlib";
import { encode } from "fast-png";
import { describe, expect, it } from "vitest";
import { decodeGrayPng, unfilter, UnsupportedPng } from "./png";

// Forward PNG filters (spec section 9), to build test files with every filter type.
function filterRow(type: number, row: Uint8Array, prev: Uint8Array | null, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length);
  for (let x = 0; x < row.length; x++) {
    const a = x >= bpp ? row[x - bpp]! : 0;
    const b = prev ? prev[x]! : 0;
    const c = prev && x >= bpp ? prev[x - bpp]! : 0;
    let predictor = 0;
    if (type === 1) predictor = a;
    else if (type === 2) predictor = b;
    else if (type === 3) predictor = (a + b) >> 1;
    else if (type === 4) {
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    out[x] = (row[x]! - predictor) & 0xff;
  }
  return out;
}

function chunk(type: string, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(payload, 8);
  return out; // CRC left zero: the decoder does not check it
}

/** A grayscale PNG whose row y uses filter filters[y % filters.length], split into two IDATs. */
function makePng(width: number, height: number, depth: 8 | 16, values: number[], filters: number[], colorType = 0): Uint8Array {
  const bpp = depth / 8;
  const stride = width * bpp;
  const rows: Uint8Array[] = [];
  for (let y = 0; y < height; y++) {
    const row = new Uint8Array(stride);
    for (let x = 0; x < width; x++) {
      const v = values[y * width + x]!;
      if (depth === 16) {
        row[2 * x] = v >> 8;
        row[2 * x + 1] = v & 0xff;
      } else row[x] = v;
    }
    rows.push(row);
  }
  const raw = new Uint8Array(height * (stride + 1));
  rows.forEach((row, y) => {
    const type = filters[y % filters.length]!;
    raw[y * (stride + 1)] = type;
    raw.set(filterRow(type, row, y > 0 ? rows[y - 1]! : null, bpp), y * (stride + 1) + 1);
  });
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const z = new Uint8Array(deflateSync(raw));
  const half = Math.floor(z.length / 2);
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("tEXt", new TextEncoder().encode("Comment\0ignored")),
    chunk("IDAT", z.subarray(0, half)),
    chunk("IDAT", z.subarray(half)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function pseudoRandom(n: number, max: number, seed = 7): number[] {
  const out: number[] = [];
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out.push(s % (max + 1));
  }
  return out;
}

describe("decodeGrayPng", () => {
  it.each([0, 1, 2, 3, 4])("decodes 16-bit rows written with filter type %i exactly", async (filter) => {
    const width = 13;
    const height = 7;
    const values = pseudoRandom(width * height, 65535);
    const image = await decodeGrayPng(makePng(width, height, 16, values, [filter]));
    expect(image.width).toBe(width);
    expect(image.height).toBe(height);
    expect(image.depth).toBe(16);
    expect(Array.from(image.data)).toEqual(values);
  });

  it("decodes 16-bit rows that mix every filter type", async () => {
    const values = pseudoRandom(31 * 17, 65535, 99);
    const image = await decodeGrayPng(makePng(31, 17, 16, values, [4, 0, 3, 1, 2]));
    expect(Array.from(image.data)).toEqual(values);
  });

  it("decodes 8-bit grayscale with every filter type", async () => {
    const values = pseudoRandom(9 * 10, 255, 3);
    const image = await decodeGrayPng(makePng(9, 10, 8, values, [1, 2, 3, 4, 0]));
    expect(image.depth).toBe(8);
    expect(Array.from(image.data)).toEqual(values);
  });

  it("agrees with fast-png's encoder output", async () => {
    const values = pseudoRandom(40 * 25, 65535, 5);
    const bytes = encode({ width: 40, height: 25, data: Uint16Array.from(values), depth: 16, channels: 1 });
    expect(Array.from((await decodeGrayPng(bytes)).data)).toEqual(values);
  });

  it("refuses colour PNGs so the worker falls back to the general decoder", async () => {
    await expect(decodeGrayPng(makePng(2, 2, 8, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [0], 2))).rejects.toBeInstanceOf(
      UnsupportedPng,
    );
  });

  it("rejects a file that is not a PNG", async () => {
    await expect(decodeGrayPng(new TextEncoder().encode("GIF89a not a png"))).rejects.toThrow("not a PNG");
  });
});

describe("unfilter", () => {
  it("rejects an unknown filter type", () => {
    expect(() => unfilter(new Uint8Array([9, 1, 2]), 1, 2, 1)).toThrow("unknown filter type 9");
  });

  it("rejects data shorter than the image", () => {
    expect(() => unfilter(new Uint8Array([0, 1]), 2, 2, 1)).toThrow("shorter");
  });
});
