import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Autosaver, type SaveState, StaleVersion } from "./autosave";

describe("autosave", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function make(save: (p: string, v: number) => Promise<{ version: number }>) {
    const states: SaveState[] = [];
    const saver = new Autosaver({ delayMs: 500, save, onState: (s) => states.push(s) }, "p0", 1);
    return { saver, states };
  }

  it("waits for quiet, then saves the last payload once with the current version", async () => {
    const save = vi.fn(async (_p: string, v: number) => ({ version: v + 1 }));
    const { saver, states } = make(save);
    saver.changed("p1");
    await vi.advanceTimersByTimeAsync(300);
    saver.changed("p2");
    await vi.advanceTimersByTimeAsync(499);
    expect(save).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(save).toHaveBeenCalledTimes(1);
    expect(save).toHaveBeenCalledWith("p2", 1);
    expect(saver.version).toBe(2);
    expect(states.at(-1)).toBe("saved");
    expect(states).toContain("saving");
  });

  it("going back to the saved payload is 'saved' without a request", async () => {
    const save = vi.fn(async () => ({ version: 2 }));
    const { saver } = make(save);
    saver.changed("p1");
    saver.changed("p0");
    await vi.advanceTimersByTimeAsync(1000);
    expect(save).not.toHaveBeenCalled();
    expect(saver.current).toBe("saved");
  });

  it("a stale version stops saving and waits for the reader's choice", async () => {
    const save = vi.fn(async () => {
      throw new StaleVersion(7, { breasts: [] });
    });
    const { saver } = make(save);
    saver.changed("mine");
    await vi.advanceTimersByTimeAsync(500);
    expect(saver.current).toBe("conflict");
    expect(saver.conflict?.currentVersion).toBe(7);
    saver.changed("mine, edited");
    await vi.advanceTimersByTimeAsync(2000);
    expect(save).toHaveBeenCalledTimes(1);
    await expect(saver.flush()).rejects.toBeInstanceOf(StaleVersion);
  });

  it("keep-mine saves over the server's version; reload adopts it", async () => {
    let fail = true;
    const save = vi.fn(async (_p: string, v: number) => {
      if (fail) throw new StaleVersion(7, null);
      return { version: v + 1 };
    });
    const { saver } = make(save);
    saver.changed("mine");
    await vi.advanceTimersByTimeAsync(500);
    fail = false;
    await saver.overwrite("mine");
    expect(save).toHaveBeenLastCalledWith("mine", 7);
    expect(saver.version).toBe(8);
    expect(saver.current).toBe("saved");

    fail = true;
    saver.changed("other");
    await vi.advanceTimersByTimeAsync(500);
    saver.acceptServer(9, "server");
    expect(saver.current).toBe("saved");
    expect(saver.version).toBe(9);
  });

  it("a network error keeps the payload and retries", async () => {
    let up = false;
    const save = vi.fn(async (_p: string, v: number) => {
      if (!up) throw new Error("offline");
      return { version: v + 1 };
    });
    const { saver } = make(save);
    saver.changed("p1");
    await vi.advanceTimersByTimeAsync(500);
    expect(saver.current).toBe("error");
    up = true;
    saver.retry();
    await vi.advanceTimersByTimeAsync(0);
    expect(save).toHaveBeenLastCalledWith("p1", 1);
    expect(saver.current).toBe("saved");
  });

  it("flush saves pending changes immediately", async () => {
    const save = vi.fn(async (_p: string, v: number) => ({ version: v + 1 }));
    const { saver } = make(save);
    saver.changed("p1");
    await saver.flush();
    expect(save).toHaveBeenCalledWith("p1", 1);
    expect(saver.current).toBe("saved");
  });
});
