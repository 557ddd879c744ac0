// Web Worker: decode the 16-bit full-resolution PNG and build the mip pyramid off the main
// thread, so window/level and pan stay smooth on the other views while the data arrives.
import { decode } from "fast-png";
import { decodeGrayPng, UnsupportedPng, type GrayImage } from "./png";
import { buildPyramid, toGray16, valueRange, type Level } from "./pyramid";

/** The PNG file's bytes (fetched by the page, transferred here). */
export interface DecodeRequest {
  id: number;
  bytes: ArrayBuffer;
}

export type DecodeResponse =
  | { id: number; ok: true; levels: Level[]; min: number; max: number; depth: number }
  | { id: number; ok: false; error: string };

const scope = self as unknown as DedicatedWorkerGlobalScope;

/** The fast native-inflate path for grayscale PNGs, fast-png for anything else. */
async function decodeAny(bytes: Uint8Array): Promise<GrayImage> {
  try {
    return await decodeGrayPng(bytes);
  } catch (error) {
    if (!(error instanceof UnsupportedPng)) throw error;
    const png = decode(bytes);
    return { width: png.width, height: png.height, depth: png.depth === 16 ? 16 : 8, data: toGray16(png.data, png.channels) };
  }
}

scope.onmessage = async (event: MessageEvent<DecodeRequest>) => {
  const { id, bytes } = event.data;
  try {
    const png = await decodeAny(new Uint8Array(bytes));
    const gray = png.data;
    const levels = buildPyramid({ width: png.width, height: png.height, data: gray });
    const { min, max } = valueRange(gray);
    const reply: DecodeResponse = { id, ok: true, levels, min, max, depth: png.depth };
    scope.postMessage(reply, levels.map((l) => l.data.buffer as ArrayBuffer));
  } catch (error) {
    const reply: DecodeResponse = { id, ok: false, error: String(error) };
    scope.postMessage(reply);
  }
};
