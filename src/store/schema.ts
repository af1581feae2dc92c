/** Table shapes as kysely sees them. Timestamps are ISO 8601 strings so SQLite and PostgreSQL agree. */
export interface ProjectsTable {
  id: string;
  name: string;
  created_at: string;
}

export interface TokensTable {
  id: string;
  /** null for server-wide tokens (admin, server-wide ingest). */
  project_id: string | null;
  scope: string;
  name: string;
  /** SHA-256 of the token, hex; the token itself is never stored. */
  hash: string;
  /** The token's first characters, to recognise it in a list. */
  display_prefix: string;
  created_at: string;
  last_used_at: string | null;
  /** Kept after revocation so a revoked token gets `token_revoked`, not `invalid_token`. */
  revoked_at: string | null;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface IntegrationsTable {
  id: string;
  project_id: string;
  name: string;
  kind: string;
  endpoint: string;
  /** JSON of the kind's config. */
  config: string;
  /** JSON array of header names; the values live only in `auth_headers_sealed`. */
  auth_header_names: string;
  auth_headers_sealed: string | null;
  key_version: number | null;
  /** 0 or 1 (SQLite has no booleans). */
  enabled: number;
  state: string;
  paused_reason: string | null;
  last_success_at: string | null;
  last_attempt_at: string | null;
  last_error: string | null;
  consecutive_failures: number;
  created_at: string;
  updated_at: string;
}

/** An instance's or job's accrual state (src/aggregate/accrual.ts): its newest event's time, state and price. */
export interface AccrualEntitiesTable {
  project_id: string;
  /** `instance` or `job`. */
  kind: string;
  /** JSON array of the names that identify it: [fleet_name, instance_name] or [run_name, job_name]. */
  entity: string;
  /** Event time of its newest event, epoch milliseconds. */
  last_ms: number;
  state: string;
  /** US dollars per hour; null until an event gave one. */
  price_per_hour: number | null;
  /** JSON object of its label fields as last given (`{"backend":"aws"}`), which hold until others are given. */
  labels: string;
  /** Wall-clock time of its newest event: it is forgotten a day after. */
  updated_at: string;
}

/** The exact sum behind an accrued counter (running time, cost, jobs), in the units accrual.ts keeps it in. */
export interface AccrualSumsTable {
  project_id: string;
  /** The catalogue key of the counter's family (`instance_cost`), whatever the configured prefix. */
  family: string;
  /** JSON array of the series' label values after project_id and app_id, null where absent. */
  labels: string;
  total: number;
}

export interface Database {
  projects: ProjectsTable;
  tokens: TokensTable;
  meta: MetaTable;
  integrations: IntegrationsTable;
  accrual_entities: AccrualEntitiesTable;
  accrual_sums: AccrualSumsTable;
}
