// Debounced autosave with optimistic concurrency. The state is always visible to the reader:
// saved / unsaved / saving / conflict / error. A 409 stale_version never overwrites anything on
// its own: the saver stops and waits for the reader to choose (reload the server's read, or
// keep theirs and save it over the newer version).

export type SaveState = "saved" | "unsaved" | "saving" | "conflict" | "error";

export interface SaveOutcome {
  version: number;
}

export class StaleVersion extends Error {
  constructor(
    readonly currentVersion: number,
    readonly serverState: unknown,
  ) {
    super("stale_version");
  }
}

export interface AutosaverOptions {
  delayMs: number;
  /** Persist `payload` at `version`; reject with StaleVersion on a 409 stale_version. */
  save: (payload: string, version: number) => Promise<SaveOutcome>;
  onState: (state: SaveState, detail: { error?: unknown; conflict?: StaleVersion }) => void;
  onSaved?: (outcome: SaveOutcome) => void;
}

export class Autosaver {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<void> | null = null;
  private pending: string | null = null;
  private lastSaved: string;
  private state: SaveState = "saved";
  conflict: StaleVersion | null = null;

  constructor(
    private readonly opts: AutosaverOptions,
    initialPayload: string,
    public version: number,
  ) {
    this.lastSaved = initialPayload;
  }

  get current(): SaveState {
    return this.state;
  }

  /** The payload changed: save it after `delayMs` of quiet (typing, dragging). */
  changed(payload: string): void {
    if (this.state === "conflict") {
      this.pending = payload;
      return;
    }
    if (payload === this.lastSaved && this.inFlight === null) {
      this.pending = null;
      this.setState("saved");
      return;
    }
    this.pending = payload;
    this.setState("unsaved");
    this.schedule();
  }

  /** Save now (before submit, on leaving the page). Resolves when nothing is left to save. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.inFlight) await this.inFlight;
    if (this.state === "conflict") throw this.conflict;
    if (this.pending !== null && this.pending !== this.lastSaved) await this.run();
    const after = this.state as SaveState;
    if (after === "conflict") throw this.conflict;
    if (after === "error") throw new Error("save failed");
  }

  /** After a conflict: adopt the server's version as the new base (the caller reloads its state). */
  acceptServer(version: number, serverPayload: string): void {
    this.version = version;
    this.lastSaved = serverPayload;
    this.pending = null;
    this.conflict = null;
    this.setState("saved");
  }

  /** After a conflict: keep the local payload and write it over the server's newer version. */
  async overwrite(payload: string): Promise<void> {
    if (this.conflict) this.version = this.conflict.currentVersion;
    this.conflict = null;
    this.pending = payload;
    this.setState("unsaved");
    await this.flush();
  }

  /** The server bumped the version through another action (submit, adopt): follow it. */
  follow(version: number, payload: string): void {
    this.version = version;
    this.lastSaved = payload;
    if (this.pending === payload) this.pending = null;
  }

  get hasUnsaved(): boolean {
    return this.state !== "saved";
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, this.opts.delayMs);
  }

  private run(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const payload = this.pending;
    if (payload === null) return Promise.resolve();
    this.pending = null;
    this.setState("saving");
    this.inFlight = this.opts
      .save(payload, this.version)
      .then((outcome) => {
        this.version = outcome.version;
        this.lastSaved = payload;
        this.opts.onSaved?.(outcome);
        if (this.pending !== null && this.pending !== payload) {
          this.setState("unsaved");
          this.schedule();
        } else {
          this.pending = null;
          this.setState("saved");
        }
      })
      .catch((err: unknown) => {
        if (err instanceof StaleVersion) {
          this.conflict = err;
          this.pending = this.pending ?? payload;
          this.setState("conflict", { conflict: err });
        } else {
          // Keep the payload: the next change or an explicit retry sends it again.
          this.pending = this.pending ?? payload;
          this.setState("error", { error: err });
        }
      })
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  }

  /** Retry after an error (network down, server 5xx). */
  retry(): void {
    if (this.state === "error" && this.pending !== null) void this.run();
  }

  private setState(state: SaveState, detail: { error?: unknown; conflict?: StaleVersion } = {}): void {
    this.state = state;
    this.opts.onState(state, detail);
  }
}
