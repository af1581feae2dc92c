/**
 * Versioned migrations, applied in name order by kysely's Migrator. Written with kysely's schema
 * builder only, so the same list runs on SQLite and PostgreSQL. Never edit one that has shipped:
 * add the next.
 */
import type { Kysely, Migration } from 'kysely';

export const MIGRATIONS: Record<string, Migration> = {
  '0001_projects_tokens': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('projects')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.references('projects.id').onDelete('cascade'))
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('display_prefix', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema.createIndex('tokens_project').on('tokens').column('project_id').execute();
      await db.schema
        .createTable('meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

MIGRATIONS['0002_integrations'] = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('integrations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('endpoint', 'text', (c) => c.notNull())
      .addColumn('config', 'text', (c) => c.notNull())
      .addColumn('auth_header_names', 'text', (c) => c.notNull())
      .addColumn('auth_headers_sealed', 'text')
      .addColumn('key_version', 'integer')
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('paused_reason', 'text')
      .addColumn('last_success_at', 'text')
      .addColumn('last_attempt_at', 'text')
      .addColumn('last_error', 'text')
      .addColumn('consecutive_failures', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('integrations_project').on('integrations').column('project_id').execute();
  },
};

/**
 * Instances' and jobs' accrual state and the exact sums of their counters, written together so a
 * restart neither loses nor counts twice the cost accrued between two events (src/aggregate/accrual.ts).
 */
MIGRATIONS['0003_accrual'] = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('accrual_entities')
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('entity', 'text', (c) => c.notNull())
      .addColumn('last_ms', 'double precision', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('price_per_hour', 'double precision')
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('accrual_entities_pk', ['project_id', 'kind', 'entity'])
      .execute();
    await db.schema
      .createTable('accrual_sums')
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id').onDelete('cascade'))
      .addColumn('family', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('total', 'double precision', (c) => c.notNull())
      .addPrimaryKeyConstraint('accrual_sums_pk', ['project_id', 'family', 'labels'])
      .execute();
  },
};
