// Full-depth pixel data as a mip pyramid of 16-bit levels. Pure (runs in the decode worker and in
// vitest). The pyramid exists because the fragment shader samples an integer texture with
// texelFetch (integer textures cannot be filtered by the GPU), so minification at fit (a 4,400 px
// mammogram in a ~500 px viewport) would alias badly without pre-averaged levels.

export interface Level {
  width: number;
  height: number;
  data: Uint16Array;
}

/** Halve a level with a 2x2 box average; sizes follow WebGL's mip chain (floor, at least 1). */
export function halve(level: Level): Level {
  const { width, height, data } = level;
  const w = Math.max(1, width >> 1);
  const h = Math.max(1, height >> 1);
  const out = new Uint16Array(w * h);
  for (let y = 0; y < h; y++) {
    const y0 = Math.min(2 * y, height - 1) * width;
    const y1 = Math.min(2 * y + 1, height - 1) * width;
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const x0 = Math.min(2 * x, width - 1);
      const x1 = Math.min(2 * x + 1, width - 1);
      // +2 rounds to nearest; the sum of four 16-bit values fits easily in a double.
      out[row + x] = ((data[y0 + x0]! + data[y0 + x1]! + data[y1 + x0]! + data[y1 + x1]! + 2) / 4) | 0;
    }
  }
  return { width: w, height: h, data: out };
}

/** Levels from full size down to a longest side of at most `minSide` (the base level included). */
export function buildPyramid(base: Level, minSide = 64): Level[] {
  const levels: Level[] = [base];
  let current = base;
  while (Math.max(current.width, current.height) > minSide && (current.width > 1 || current.height > 1)) {
    current = halve(current);
    levels.push(current);
  }
  return levels;
}

/** First level whose sides fit the GPU's MAX_TEXTURE_SIZE (0 = full resolution fits). */
export function firstLevelWithin(levels: readonly Level[], maxTextureSize: number): number {
  const index = levels.findIndex((l) => l.width <= maxTextureSize && l.height <= maxTextureSize);
  return index < 0 ? levels.length - 1 : index;
}

/** Min and max stored value, for the window/level drag range and "reset to data range". */
export function valueRange(data: Uint16Array): { min: number; max: number } {
  let min = 65535;
  let max = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min > max ? { min: 0, max: 0 } : { min, max };
}

/** Take one channel of a decoded PNG as 16-bit gray (8-bit input is widened, not rescaled). */
export function toGray16(
  data: Uint8Array | Uint8ClampedArray | Uint16Array,
  channels: number,
): Uint16Array {
  if (data instanceof Uint16Array && channels === 1) return data;
  const n = Math.floor(data.length / channels);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = data[i * channels]!;
  return out;
}
