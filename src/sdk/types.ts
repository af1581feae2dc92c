/**
 * The SDK's types, from the schemas the server validates requests and answers with
 * (src/api/schemas.ts): one definition, so a change there is a type error here. Type-only
 * imports: nothing of the server reaches a browser bundle.
 */
import type { Static } from '@sinclair/typebox';
import type * as S from '../api/schemas.js';

export type Project = Static<typeof S.Project>;
export type CreateProjectInput = Static<typeof S.CreateProjectBody>;
export type TokenInfo = Static<typeof S.TokenInfo>;
export type CreatedToken = Static<typeof S.CreatedToken>;
export type CreateProjectTokenInput = Static<typeof S.CreateProjectTokenBody>;
export type CreateServerTokenInput = Static<typeof S.CreateServerTokenBody>;
export type Whoami = Static<typeof S.Whoami>;
export type IngestResult = Static<typeof S.IngestResponse>;
export type Integration = Static<typeof S.IntegrationSchema>;
export type IntegrationStatus = Static<typeof S.IntegrationStatus>;
export type CreateIntegrationInput = Static<typeof S.CreateIntegrationBody>;
export type UpdateIntegrationInput = Static<typeof S.UpdateIntegrationBody>;
export type TestResult = Static<typeof S.TestResult>;

/**
 * An event (CONTRACT section 4): its `type` and the fields that type takes; the gateway checks
 * them and answers each refused event with the field and the fix.
 */
export interface MeterwayEvent {
  readonly type: string;
  /** Needed with a server-wide ingest token; a project token's own project otherwise. */
  readonly project_id?: string;
  /** RFC 3339 or epoch milliseconds; the gateway's clock when left out. */
  readonly timestamp?: string | number;
  readonly [field: string]: unknown;
}

/** The query API's `data` (Prometheus' HTTP API). */
export type QueryData =
  | { resultType: 'vector'; result: Array<{ metric: Record<string, string>; value: [number, string] }> }
  | { resultType: 'matrix'; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> }
  | { resultType: 'scalar' | 'string'; result: [number, string] };
