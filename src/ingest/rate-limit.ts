/**
 * Ingest rate limits: a token bucket per project and one per (project, token), so that one
 * tenant's flood, or one runaway token inside a tenant, cannot take the gateway's ingest capacity
 * from the others. A batch is admitted whole or not at all: every bucket it touches must hold its
 * cost before any is charged, so a refused batch can be sent again unchanged. Knows nothing of HTTP;
 * the routes turn a refusal into 429 or 413.
 */

/** One bucket's shape. `eventsPerSecond` 0 means unlimited (no bucket at all). */
export interface RateLimit {
  readonly eventsPerSecond: number;
  /** The most events taken at once: the bucket's size. At least 1 when limited. */
  readonly burst: number;
}

/** The limits that apply to one project and to each token writing into it. */
export interface ProjectRateLimits {
  readonly project: RateLimit;
  readonly perToken: RateLimit;
}

export interface RateLimits extends ProjectRateLimits {
  /** Per-project overrides, already merged with the defaults above. */
  readonly projects: Readonly<Record<string, ProjectRateLimits>>;
}

export type LimitKind = 'project' | 'token';

/** Why a batch was refused; nothing of it was charged. */
export interface Refusal {
  /** `rate`: the bucket will hold the batch later; `burst`: the batch is larger than the bucket can ever hold. */
  readonly reason: 'rate' | 'burst';
  readonly limit: LimitKind;
  readonly projectId: string;
  readonly tokenId: string;
  readonly eventsPerSecond: number;
  readonly burst: number;
  /** The batch's events for this project. */
  readonly events: number;
  /** Whole seconds until the bucket holds the batch, at least 1; for `burst`, until it holds one event. */
  readonly retryAfterS: number;
  /** Whether the limit comes from `projects["<id>"]` rather than the defaults, so messages can name the right key. */
  readonly overridden: boolean;
}

export interface ThrottleObserver {
  throttled(projectId: string, limit: LimitKind, tokenId: string, events: number): void;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
  readonly limit: RateLimit;
}

/**
 * A full bucket is the same as no bucket, so full ones are dropped; a sweep this often bounds the
 * map by the (project, token) pairs that wrote within the last sweep interval plus one refill time
 * (burst / rate), not by every token ever seen.
 */
const SWEEP_EVERY_MS = 60_000;
/** Refills are sums of float products; a batch that fits to within this is taken. */
const EPSILON = 1e-9;

export class IngestLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweepMs: number;

  constructor(
    private readonly limits: RateLimits,
    /** Milliseconds, monotonic; injectable so tests move time instead of sleeping. */
    private readonly clock: () => number = () => performance.now(),
    private readonly observer?: ThrottleObserver,
  ) {
    this.lastSweepMs = clock();
  }

  /** The limits in force for a project, and whether they come from an override. */
  limitsFor(projectId: string): ProjectRateLimits & { overridden: boolean } {
    const own = Object.hasOwn(this.limits.projects, projectId) ? this.limits.projects[projectId] : undefined;
    const { project, perToken } = own ?? this.limits;
    return { project, perToken, overridden: own !== undefined };
  }

  /**
   * Charges `costs` (events per project) to the projects' buckets and to `tokenId`'s bucket in each,
   * or charges nothing and says why the batch does not fit. When several buckets are short, the
   * refusal names the one that needs the longest wait, so its Retry-After covers the others too.
   */
  admit(tokenId: string, costs: ReadonlyMap<string, number>): Refusal | undefined {
    const now = this.clock();
    if (now - this.lastSweepMs >= SWEEP_EVERY_MS) this.sweep(now);
    const charges: Array<{ key: string; limit: RateLimit; cost: number }> = [];
    let worst: Refusal | undefined;
    for (const [projectId, cost] of costs) {
      if (!(cost > 0)) continue;
      const limits = this.limitsFor(projectId);
      const checks: Array<[LimitKind, RateLimit, string]> = [
        ['project', limits.project, `p\u0000${projectId}`],
        ['token', limits.perToken, `t\u0000${projectId}\u0000${tokenId}`],
      ];
      for (const [kind, limit, key] of checks) {
        if (limit.eventsPerSecond === 0) continue;
        const base = { limit: kind, projectId, tokenId, eventsPerSecond: limit.eventsPerSecond, burst: limit.burst, events: cost, overridden: limits.overridden };
        if (cost > limit.burst) {
          // No wait makes it fit, so this outranks any rate refusal: the client must split the batch.
          const refusal: Refusal = { ...base, reason: 'burst', retryAfterS: this.waitSeconds(this.available(key, limit, now), 1, limit) };
          this.observer?.throttled(projectId, kind, tokenId, cost);
          return refusal;
        }
        const available = this.available(key, limit, now);
        if (available + EPSILON >= cost) {
          charges.push({ key, limit, cost });
          continue;
        }
        const retryAfterS = this.waitSeconds(available, cost, limit);
        if (worst === undefined || retryAfterS > worst.retryAfterS) worst = { ...base, reason: 'rate', retryAfterS };
      }
    }
    if (worst !== undefined) {
      this.observer?.throttled(worst.projectId, worst.limit, tokenId, worst.events);
      return worst;
    }
    for (const { key, limit, cost } of charges) {
      let bucket = this.buckets.get(key);
      if (bucket === undefined) {
        bucket = { tokens: limit.burst, updatedMs: now, limit };
        this.buckets.set(key, bucket);
      }
      bucket.tokens = Math.max(0, bucket.tokens - cost);
    }
    return undefined;
  }

  /** How many buckets are held; for tests of the eviction. */
  get size(): number {
    return this.buckets.size;
  }

  /** Drops every bucket that has refilled to full. */
  sweep(now = this.clock()): void {
    this.lastSweepMs = now;
    for (const [key, bucket] of this.buckets) {
      if (this.refill(bucket, now) >= bucket.limit.burst) this.buckets.delete(key);
    }
  }

  private available(key: string, limit: RateLimit, now: number): number {
    const bucket = this.buckets.get(key);
    return bucket === undefined ? limit.burst : this.refill(bucket, now);
  }

  private refill(bucket: Bucket, now: number): number {
    const elapsed = Math.max(0, now - bucket.updatedMs);
    bucket.tokens = Math.min(bucket.limit.burst, bucket.tokens + (elapsed * bucket.limit.eventsPerSecond) / 1000);
    bucket.updatedMs = now;
    return bucket.tokens;
  }

  private waitSeconds(available: number, cost: number, limit: RateLimit): number {
    return Math.max(1, Math.ceil((cost - available) / limit.eventsPerSecond - EPSILON));
  }
}

/**
 * The configuration key that sets a refused limit's rate or burst: by default the project's
 * override when it has one (`ingest.rate_limit.projects["<id>"].…`), the default key otherwise.
 */
export function limitKey(
  r: Pick<Refusal, 'limit' | 'projectId' | 'overridden'>,
  what: 'rate' | 'burst',
  where: 'default' | 'project' = r.overridden ? 'project' : 'default',
): string {
  const prefix = r.limit === 'project' ? '' : 'per_token_';
  const name = `${prefix}${what === 'rate' ? 'events_per_second' : 'burst'}`;
  return where === 'project' ? `ingest.rate_limit.projects[${JSON.stringify(r.projectId)}].${name}` : `ingest.rate_limit.${name}`;
}
