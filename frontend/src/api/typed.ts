// Calls typed by the generated OpenAPI schema (schema.d.ts, from `manage.py spectacular` through
// openapi-typescript; `npm run api:generate`). A path, method, path parameter or body that the
// server's schema does not have is a compile error, and `conform` proves that what the schema
// says a response holds fits the domain type a screen reads (types.ts). tests/web/test_api_types.py
// fails when schema.d.ts is older than the server's schema.

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

/** Literal unions and enums widened to their base type: the schema says `string` where the
 *  domain types name the allowed values (the server validates those, not the schema). */
export type Widen<T> = T extends string
  ? string
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T extends null | undefined
        ? T
        : T extends readonly (infer U)[]
          ? Widen<U>[]
          : T extends object
            ? { [K in keyof T]: Widen<T[K]> }
            : T;

/** Compile-time check that a schema response fits a domain type; identity at run time. */
export function conform<Domain>() {
  return <S>(value: S & (Widen<S> extends Widen<Domain> ? unknown : { __schema_does_not_fit_domain: never })): Domain =>
    value as unknown as Domain;
}

/** Compile-time check that a domain body fits the schema's request body. */
export function asBody<Schema>() {
  return <D>(value: D & (Widen<D> extends Widen<Schema> ? unknown : { __body_does_not_fit_schema: never })): Schema =>
    value as unknown as Schema;
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
