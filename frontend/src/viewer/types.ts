// The image JSON shape every API that lists the images of an exam returns (cross-team contract 2).

export interface WindowPreset {
  /** In modality value space (after Modality LUT / rescale). */
  center: number;
  width: number;
  explanation: string;
}

export interface ImageUrls {
  /** 8-bit PNG, long side <= 2048 px, default window applied, MONOCHROME1 inverted, not mirrored. */
  display: string;
  /** 8-bit PNG, long side <= 256 px. */
  thumbnail: string;
  /** 16-bit grayscale PNG at full resolution; value v means v * full_depth_scale + full_depth_offset. */
  full: string;
  /** 16-bit grayscale PNG of the full depth halved until its longest side is <= 1024 (same values
   *  as `full`, 2x2-averaged): loaded first; absent for images rendered before it. */
  depth?: string;
}

export interface ImageInfo {
  id: number;
  image_id: string;
  series_id: string;
  laterality: "L" | "R";
  view_position: string;
  rows: number;
  columns: number;
  photometric_interpretation: string;
  /** First = default. */
  window_presets: WindowPreset[];
  /** Mirror left-right so the image hangs in the standard protocol (chest wall to the centre). */
  display_flip_horizontal: boolean;
  full_depth_scale: number;
  full_depth_offset: number;
  urls: ImageUrls;
  /** The breast's extent in original pixels (end-exclusive), found at render time; null: unknown. */
  tissue_bounds?: { xmin: number; ymin: number; xmax: number; ymax: number } | null;
  /** A window over the breast tissue's own values (modality space). */
  tissue_window?: WindowPreset | null;
  /** mm per pixel [row, column] (PixelSpacing, else ImagerPixelSpacing); null: unknown. */
  pixel_spacing?: number[] | null;
  /** The tag pixel_spacing came from: "ImagerPixelSpacing" = lengths at the detector. */
  pixel_spacing_source?: string | null;
}

export type Interaction = "windowLevel" | "pan" | "zoom" | "none";

export type Slot = "RCC" | "LCC" | "RMLO" | "LMLO";

export const SLOTS: readonly Slot[] = ["RCC", "LCC", "RMLO", "LMLO"];

export type ViewportStatus = "empty" | "loading" | "display" | "full" | "error";

/** Who changed the view or window: the user's mouse, or code (including synchronisation). */
export type ChangeSource = "user" | "api";
