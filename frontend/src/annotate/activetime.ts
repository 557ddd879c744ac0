// Active reading time of one read (issue 12 item 8). Pure: the caller feeds timestamps (ms).
// Time counts between two consecutive signs of use (pointer, key, wheel, focus) while the page
// has focus, unless the pause between them is longer than the idle threshold: then the whole
// pause is left out (the reader looked away or left). Losing focus ends the current stretch.

export class ActiveTime {
  private accumulatedMs = 0;
  private last: number | null = null;
  private focused = true;

  constructor(
    private readonly idleMs: number,
    /** Seconds already recorded on the read (the server's total when the screen opened). */
    private readonly initialSeconds = 0,
  ) {}

  /** A sign of use at `now`. */
  activity(now: number): void {
    if (!this.focused) this.focused = true;
    if (this.last !== null) {
      const gap = now - this.last;
      if (gap > 0 && gap <= this.idleMs) this.accumulatedMs += gap;
    }
    this.last = now;
  }

  /** The page lost focus (or was hidden) at `now`: the stretch up to now counts, then nothing. */
  blur(now: number): void {
    if (this.focused && this.last !== null) {
      const gap = now - this.last;
      if (gap > 0 && gap <= this.idleMs) this.accumulatedMs += gap;
    }
    this.focused = false;
    this.last = null;
  }

  /** Regained focus: counts as a sign of use that starts a new stretch. */
  focus(now: number): void {
    this.focused = true;
    this.last = now;
  }

  /** Whole seconds of active time so far, the pause since the last sign of use included when
   *  it is still short enough to count. */
  totalSeconds(now: number): number {
    let ms = this.accumulatedMs;
    if (this.focused && this.last !== null) {
      const gap = now - this.last;
      if (gap > 0 && gap <= this.idleMs) ms += gap;
    }
    return this.initialSeconds + Math.floor(ms / 1000);
  }
}

/** "1:05:09", "4:07", "0:42" */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const two = (n: number): string => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}
