// A small pool of decode workers shared by every viewport (four views decode in parallel).
import type { DecodeRequest, DecodeResponse } from "./decode.worker";
import type { Level } from "./pyramid";

export interface FullDepthData {
  levels: Level[];
  min: number;
  max: number;
  depth: number;
}

interface Pending {
  resolve: (data: FullDepthData) => void;
  reject: (error: Error) => void;
}

class DecoderPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private nextWorker = 0;

  private worker(): Worker {
    // Four views decode at once; at least two workers even on a two-core machine, where the
    // main thread is mostly idle while they run.
    if (this.workers.length < this.size()) {
      const w = new Worker(new URL("./decode.worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (event: MessageEvent<DecodeResponse>) => this.settle(event.data);
      this.workers.push(w);
      return w;
    }
    const w = this.workers[this.nextWorker % this.workers.length]!;
    this.nextWorker++;
    return w;
  }

  private settle(reply: DecodeResponse): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (reply.ok) {
      pending.resolve({ levels: reply.levels, min: reply.min, max: reply.max, depth: reply.depth });
    } else {
      pending.reject(new Error(reply.error));
    }
  }

  /** Start the workers now (script load and compile), before the first decode needs them. */
  warm(): void {
    while (this.workers.length < this.size()) this.worker();
  }

  private size(): number {
    return Math.max(2, Math.min(4, navigator.hardwareConcurrency || 2));
  }

  decode(bytes: ArrayBuffer): Promise<FullDepthData> {
    const id = this.nextId++;
    return new Promise<FullDepthData>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const request: DecodeRequest = { id, bytes };
      this.worker().postMessage(request, [bytes]);
    });
  }
}

let pool: DecoderPool | null = null;

/** Fetch a PNG's bytes (same-origin credentials: the image endpoints sit behind the session). */
export async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
  return response.arrayBuffer();
}

/** Decode a 16-bit PNG and build its pyramid in a worker (the buffer is transferred). */
export function decodeFullDepth(bytes: ArrayBuffer): Promise<FullDepthData> {
  pool ??= new DecoderPool();
  return pool.decode(bytes);
}

/** Start the decode workers ahead of the first decode (HangingLayout does, when it opens). */
export function warmDecoders(): void {
  pool ??= new DecoderPool();
  pool.warm();
}
