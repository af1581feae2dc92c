/**
 * API tokens: random, prefixed by scope, stored only as SHA-256 hashes. Every token is indexed in
 * memory at start-up so authentication costs one hash and one map lookup, not a database query;
 * `last_used_at` is collected in memory and written in batches.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, TokensTable } from '../store/schema.js';
import type { Secret } from '../config/secret.js';
import { newTokenId } from './ids.js';

export const SCOPES = ['admin', 'ingest', 'manage', 'monitoring'] as const;
export type Scope = (typeof SCOPES)[number];
export const PROJECT_SCOPES: readonly Scope[] = ['ingest', 'manage', 'monitoring'];
export const SERVER_SCOPES: readonly Scope[] = ['admin', 'ingest'];

/** Who a request is, once its token checks out. `project` is null for server-wide tokens. */
export interface Principal {
  readonly tokenId: string;
  readonly scope: Scope;
  readonly project: string | null;
}

export interface TokenInfo {
  id: string;
  project_id: string | null;
  scope: Scope;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

export interface CreatedToken extends TokenInfo {
  token: string;
}

export type AuthOutcome = Principal | 'invalid' | 'revoked';

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** 32 random bytes behind a readable scope prefix, e.g. `mw_monitoring_…`. */
export function generateToken(scope: Scope): string {
  return `${scopePrefix(scope)}${randomBytes(32).toString('base64url')}`;
}

const scopePrefix = (scope: Scope): string => `mw_${scope}_`;

/** How many secret characters a token list shows: enough to tell tokens apart, far too few to guess the rest. */
const SHOWN_SECRET_CHARS = 4;

interface Indexed extends Principal {
  revoked: boolean;
}

export class Tokens {
  private readonly byHash = new Map<string, Indexed>();
  private readonly pendingUse = new Map<string, string>();
  private readonly envAdminHash?: Buffer;

  constructor(
    private readonly db: Kysely<Database>,
    envAdminToken?: Secret,
  ) {
    if (envAdminToken !== undefined) this.envAdminHash = createHash('sha256').update(envAdminToken.reveal()).digest();
  }

  async load(): Promise<void> {
    this.byHash.clear();
    for (const row of await this.db.selectFrom('tokens').selectAll().execute()) this.index(row);
  }

  private index(row: Pick<TokensTable, 'id' | 'hash' | 'scope' | 'project_id' | 'revoked_at'>): void {
    this.byHash.set(row.hash, { tokenId: row.id, scope: row.scope as Scope, project: row.project_id, revoked: row.revoked_at !== null });
  }

  authenticate(token: string): AuthOutcome {
    const digest = createHash('sha256').update(token).digest();
    if (this.envAdminHash !== undefined && timingSafeEqual(digest, this.envAdminHash)) {
      return { tokenId: 'env-admin', scope: 'admin', project: null };
    }
    const found = this.byHash.get(digest.toString('hex'));
    if (found === undefined) return 'invalid';
    if (found.revoked) return 'revoked';
    this.pendingUse.set(found.tokenId, new Date().toISOString());
    return found;
  }

  async create(input: { scope: Scope; name: string; project_id: string | null }): Promise<CreatedToken> {
    const token = generateToken(input.scope);
    const row: TokensTable = {
      id: newTokenId(),
      project_id: input.project_id,
      scope: input.scope,
      name: input.name,
      hash: hashToken(token),
      display_prefix: `${token.slice(0, scopePrefix(input.scope).length + SHOWN_SECRET_CHARS)}…`,
      created_at: new Date().toISOString(),
      last_used_at: null,
      revoked_at: null,
    };
    await this.db.insertInto('tokens').values(row).execute();
    this.index(row);
    return { ...toInfo(row), token };
  }

  /** Active tokens of one project, or the server-wide ones when `projectId` is null. */
  async list(projectId: string | null): Promise<TokenInfo[]> {
    await this.flushUsage();
    let q = this.db.selectFrom('tokens').selectAll().where('revoked_at', 'is', null);
    q = projectId === null ? q.where('project_id', 'is', null) : q.where('project_id', '=', projectId);
    return (await q.orderBy('created_at').orderBy('id').execute()).map(toInfo);
  }

  /** Revokes a token of the given project (null: server-wide); false when there is none. */
  async revoke(id: string, projectId: string | null): Promise<boolean> {
    let q = this.db.updateTable('tokens').set({ revoked_at: new Date().toISOString() }).where('id', '=', id).where('revoked_at', 'is', null);
    q = projectId === null ? q.where('project_id', 'is', null) : q.where('project_id', '=', projectId);
    const res = await q.executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return false;
    for (const entry of this.byHash.values()) if (entry.tokenId === id) entry.revoked = true;
    return true;
  }

  /** Drops the in-memory index entries of a deleted project (its rows go by cascade). */
  forgetProject(projectId: string): void {
    for (const [hash, entry] of this.byHash) if (entry.project === projectId) this.byHash.delete(hash);
  }

  async countServerWide(scope: Scope): Promise<number> {
    const row = await this.db
      .selectFrom('tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('project_id', 'is', null)
      .where('scope', '=', scope)
      .where('revoked_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async flushUsage(): Promise<void> {
    if (this.pendingUse.size === 0) return;
    const batch = [...this.pendingUse];
    this.pendingUse.clear();
    await this.db.transaction().execute(async (tx) => {
      for (const [id, at] of batch) await tx.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
    });
  }
}

function toInfo(row: TokensTable): TokenInfo {
  return {
    id: row.id,
    project_id: row.project_id,
    scope: row.scope as Scope,
    name: row.name,
    prefix: row.display_prefix,
    created_at: row.created_at,
    last_used_at: row.last_used_at,
  };
}
