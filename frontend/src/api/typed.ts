// Calls typed by the generated OpenAPI schema (schema.d.ts, from `manage.py spectacular` through
// openapi-typescript; `npm run api:generate`). A path, method, path parameter or body that the
// server's schema does not have is a compile error, a body is the schema's request type (enums
// included), and `conform` proves that what the schema says a response holds fits the client-side
// type a screen reads it through (types.ts). tests/web/test_api_types.py fails when schema.d.ts is
// older than the server's schema.

import { request, type Query } from "./http";
import type { paths } from "./schema";

type Method = "get" | "put" | "post" | "delete" | "patch";

/** The methods the schema has for a path: calling another one is a compile error. */
type MethodsOf<P extends keyof paths> = {
  [M in Method]: paths[P][M] extends { responses: unknown } ? M : never;
}[Method];

type Operation<P extends keyof paths, M extends Method> = paths[P][M] extends infer O
  ? O extends { responses: unknown }
    ? O
    : never
  : never;

type PathParams<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { parameters: { path: infer PP } } ? PP : Record<string, never>;

type Body<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { requestBody: { content: { "application/json": infer B } } }
    ? B
    : Operation<P, M> extends { requestBody?: { content: { "application/json": infer B } } }
      ? B | undefined
      : undefined;

export type JsonResponse<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { responses: { 200: { content: { "application/json": infer R } } } }
    ? R
    : Operation<P, M> extends { responses: { 201: { content: { "application/json": infer R } } } }
      ? R
      : never;

/** Compile-time check that a schema response fits a domain type as it is: every enum value the
 *  schema allows must be one the domain type names (no widening to `string`), so a value the server
 *  adds, or one a screen's type expects that the server dropped, fails the build. Identity at run time. */
export function conform<Domain>() {
  return <S>(value: S & ([S] extends [Domain] ? unknown : { __schema_does_not_fit_domain: never })): Domain =>
    value as unknown as Domain;
}

function fillPath(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`missing path parameter ${name} for ${template}`);
    return encodeURIComponent(String(v));
  });
}

export function call<P extends keyof paths, M extends MethodsOf<P>>(
  method: M,
  path: P,
  options: { path?: PathParams<P, M>; body?: Body<P, M>; query?: Query } = {},
): Promise<JsonResponse<P, M>> {
  const url = fillPath(path as string, (options.path ?? {}) as Record<string, string | number>);
  return request<JsonResponse<P, M>>(method.toUpperCase(), url, options.body, options.query);
}
