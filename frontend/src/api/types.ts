// Domain types of the reading API (docs/api.md), derived from the generated OpenAPI types
// (schema.d.ts, from `manage.py spectacular`): the server's serializers are the one definition,
// enums included, so a server change reaches every screen that reads the field, and `npm run build`
// fails where it breaks one. Only the client's own shapes are written by hand: the viewer's image
// (ImageInfo, the viewer package's contract) and the editor's violation (Violation); `conform`
// (typed.ts) proves the schema's shapes fit those.

import type { components } from "./schema";
import type { ImageInfo } from "../viewer";
import type { Violation } from "../annotate/draft";

export type { ImageInfo, Violation };

type Schemas = components["schemas"];

export type AssignmentKind = Schemas["AssignmentKindEnum"];
export type AssignmentState = Schemas["AssignmentStateEnum"];
export type StudyState = Schemas["StudyStateEnum"];
export type Laterality = Schemas["LateralityEnum"];
export type BreastBirads = Schemas["BreastBiradsEnum"];
export type FindingBirads = Schemas["FindingBiradsEnum"];
export type Density = Schemas["DensityEnum"];
export type FindingCategory = Schemas["FindingCategoryEnum"];
export type RuleCode = Schemas["RuleCodeEnum"];

export type UserRef = Schemas["UserRef"];
export type AssignmentSummary = Schemas["AssignmentSummary"];
export type WorklistPage = Schemas["WorklistPage"];

export type ApiBreast = Schemas["Breast"];
export type ApiFinding = Schemas["FindingOut"];
export type ApiMeasurement = Schemas["MeasurementOut"];
export type ApiRead = Schemas["ReadOut"];
export type DiscordanceReason = Schemas["DiscordanceReason"];

/** An exam to read: the schema's, with the images and violations as the viewer and editor type them. */
export type AssignmentDetail = Omit<Schemas["ExamForReading"], "images" | "violations"> & {
  images: ImageInfo[];
  violations: Violation[];
};

export type ReadSaveBody = Schemas["ReadSaveInput"];

/** An earlier exam of the same (keyed) patient: images always, its read only once final. */
export type Prior = Omit<Schemas["Prior"], "images"> & { images: ImageInfo[] };

export type ReadSaveResponse = Omit<Schemas["ReadSaveOutput"], "warnings"> & { warnings: Violation[] };

export type SubmitResponse = Schemas["SubmitOutput"];

export type ProgressReport = Schemas["Progress"];

export type AgreementStats = Schemas["ScaleStats"];
export type Agreement = Schemas["Agreement"];
export type AgreementReport = Schemas["AgreementReport"];
