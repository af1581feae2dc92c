/**
 * The scrape source (CONTRACT section 9): every target of `scrape_configs` scraped on its own
 * timer, as Prometheus' scrape manager runs them. Each target gets a fixed offset within its
 * interval, from a hash of its URL and labels, so a fleet of targets is spread over the interval
 * instead of all being scraped at once; a scrape that runs long never overlaps the next (its
 * timeout is at most the interval, and the next slot is taken after it ends).
 *
 * Targets are the operator's own config file, so the egress guard that keeps tenants'
 * integrations off private addresses (src/delivery/egress.ts) does not apply: exporters live on
 * loopback and the cluster network, and reaching them is the point.
 */
import type { Logger } from 'pino';
import type { Aggregator } from '../../aggregate/project.js';
import type { Source } from '../source.js';
import type { ScrapeJob } from './config.js';
import { TargetScraper, type ScrapeObserver, type ScrapeOutcome } from './target.js';

interface Loop {
  readonly scraper: TargetScraper;
  timer: NodeJS.Timeout | undefined;
  running: Promise<unknown> | undefined;
  /** The last state logged: 'up', or the failure's message. */
  lastState: string | undefined;
  lastDrops: string | undefined;
}

export class ScrapeManager implements Source {
  readonly name = 'scrape';
  private readonly loops: Loop[];
  private stopped = false;

  constructor(
    jobs: readonly ScrapeJob[],
    aggregator: Aggregator,
    observer: ScrapeObserver | undefined,
    private readonly log?: Logger,
  ) {
    this.loops = jobs.flatMap((job) => job.targets.map((target) => ({
      scraper: new TargetScraper(job, target, aggregator, observer),
      timer: undefined,
      running: undefined,
      lastState: undefined,
      lastDrops: undefined,
    })));
  }

  /** The targets, for tests and logs. */
  get targets(): readonly TargetScraper[] {
    return this.loops.map((l) => l.scraper);
  }

  start(): void {
    if (this.loops.length > 0) this.log?.info({ targets: this.loops.length }, 'scraping exporters');
    const now = Date.now();
    for (const loop of this.loops) {
      const { intervalMs, url, labels } = loop.scraper.target;
      // The first scrape at this target's slot within the interval: the same slot every run.
      const offset = fnv1a(`${url}\u0000${labels.map(([k, v]) => `${k}=${v}`).join('\u0000')}`) % intervalMs;
      const first = now - (now % intervalMs) + offset;
      this.schedule(loop, first < now ? first + intervalMs : first);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const loop of this.loops) {
      clearTimeout(loop.timer);
      loop.scraper.abort();
    }
    await Promise.all(this.loops.map((l) => l.running));
    for (const loop of this.loops) loop.scraper.close();
  }

  /** Scrapes every target once, now (tests, and the bench). */
  async scrapeAll(): Promise<ScrapeOutcome[]> {
    return Promise.all(this.loops.map((l) => this.run(l)));
  }

  private schedule(loop: Loop, at: number): void {
    if (this.stopped) return;
    loop.timer = setTimeout(() => {
      void this.run(loop).then(() => {
        const interval = loop.scraper.target.intervalMs;
        let next = at + interval;
        const now = Date.now();
        // A scrape that ended after its next slot (a slow target, a busy gateway) skips it.
        if (next <= now) next += Math.ceil((now - next + 1) / interval) * interval;
        this.schedule(loop, next);
      });
    }, Math.max(0, at - Date.now()));
    loop.timer.unref();
  }

  private async run(loop: Loop): Promise<ScrapeOutcome> {
    // One scrape of a target at a time: a second caller waits for the one in progress.
    while (loop.running !== undefined) await loop.running;
    const p = loop.scraper.scrape();
    loop.running = p;
    try {
      const outcome = await p;
      this.logOutcome(loop, outcome);
      return outcome;
    } finally {
      loop.running = undefined;
    }
  }

  /** Logs a target going down, coming back, or dropping series for a new reason; not every scrape. */
  private logOutcome(loop: Loop, o: ScrapeOutcome): void {
    const log = this.log;
    if (log === undefined || this.stopped) return;
    const { job, instance, url } = loop.scraper.target;
    const state = o.report.up ? 'up' : o.error ?? 'down';
    if (state !== loop.lastState) {
      if (o.report.up) {
        if (loop.lastState !== undefined) log.info({ job, instance }, 'scrape target is up again');
      } else log.warn({ job, instance, url, reason: o.report.failure, err: o.error }, `scrape failed: ${o.error}`);
      loop.lastState = state;
    }
    const drops = [...o.dropped].map(([reason, d]) => `${reason}: ${d.message}`).join('; ');
    if (drops !== '' && drops !== loop.lastDrops) {
      log.warn({ job, instance, dropped: Object.fromEntries([...o.dropped].map(([r, d]) => [r, d.n])) }, `scrape of ${instance} dropped series: ${drops}`);
    }
    loop.lastDrops = drops;
  }
}

/** FNV-1a, 32 bits: a stable spread of targets over their interval. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
