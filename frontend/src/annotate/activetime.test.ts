import { describe, expect, it } from "vitest";
import { ActiveTime, formatDuration } from "./activetime";

describe("active reading time", () => {
  it("counts the time between signs of use", () => {
    const t = new ActiveTime(60_000);
    t.activity(0);
    t.activity(10_000);
    t.activity(25_000);
    expect(t.totalSeconds(25_000)).toBe(25);
  });
  it("leaves out a pause longer than the idle threshold, whole", () => {
    const t = new ActiveTime(60_000, 100);
    t.activity(0);
    t.activity(5_000);
    t.activity(5_000 + 90_000); // 90 s without input
    t.activity(5_000 + 90_000 + 3_000);
    expect(t.totalSeconds(98_000)).toBe(100 + 5 + 3);
  });
  it("stops while the page has no focus and restarts on focus", () => {
    const t = new ActiveTime(60_000);
    t.activity(0);
    t.blur(20_000);
    expect(t.totalSeconds(50_000)).toBe(20);
    t.focus(50_000);
    t.activity(54_000);
    expect(t.totalSeconds(54_500)).toBe(24);
  });
  it("counts the running pause only while it is short enough", () => {
    const t = new ActiveTime(30_000);
    t.activity(0);
    expect(t.totalSeconds(20_000)).toBe(20);
    expect(t.totalSeconds(40_000)).toBe(0);
  });
  it("formats durations", () => {
    expect(formatDuration(42)).toBe("0:42");
    expect(formatDuration(247)).toBe("4:07");
    expect(formatDuration(3909)).toBe("1:05:09");
  });
});
