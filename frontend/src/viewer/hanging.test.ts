import { describe, expect, it } from "vitest";
import { assignSlots } from "./hanging";
import type { ImageInfo } from "./types";

function image(id: number, laterality: "L" | "R", view: string): ImageInfo {
  return {
    id,
    image_id: `i${id}`,
    series_id: "s",
    laterality,
    view_position: view,
    rows: 10,
    columns: 8,
    photometric_interpretation: "MONOCHROME2",
    window_presets: [{ center: 100, width: 200, explanation: "" }],
    display_flip_horizontal: false,
    full_depth_scale: 1,
    full_depth_offset: 0,
    urls: { display: `/d/${id}`, thumbnail: `/t/${id}`, full: `/f/${id}` },
  };
}

describe("assignSlots", () => {
  it("hangs the four standard views by laterality and view position", () => {
    const { slots, extras } = assignSlots([image(4, "L", "MLO"), image(1, "R", "CC"), image(3, "R", "MLO"), image(2, "L", "CC")]);
    expect(Object.fromEntries([...slots].map(([slot, img]) => [slot, img.id]))).toEqual({ RCC: 1, LCC: 2, RMLO: 3, LMLO: 4 });
    expect(extras).toEqual([]);
  });

  it("puts extra views and repeats of a slot among the thumbnails, first image by id hung", () => {
    const { slots, extras } = assignSlots([image(9, "R", "CC"), image(5, "R", "CC"), image(6, "L", "XCCL"), image(7, "L", "ML")]);
    expect(slots.get("RCC")?.id).toBe(5);
    expect(extras.map((i) => i.id)).toEqual([6, 7, 9]);
  });

  it("leaves a slot empty when the exam lacks that view", () => {
    const { slots } = assignSlots([image(1, "R", "CC"), image(2, "L", "CC")]);
    expect(slots.has("RMLO")).toBe(false);
    expect(slots.has("LMLO")).toBe(false);
  });
});
