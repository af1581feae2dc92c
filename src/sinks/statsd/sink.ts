/**
 * StatsD over UDP, DogStatsD or plain Etsy StatsD: encodes a batch (or raw events) into lines
 * packed in datagrams, hands them to one connected UDP socket through a bounded queue, and turns
 * what UDP can tell (DNS, the egress guard, the kernel's answer, ICMP port unreachable) into a
 * classified outcome. Schedule, retries, pause, status and deltas are delivery's (src/delivery/).
 */
import dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { CheckResult, SendResult, Sink, SinkContext, SinkFactory } from '../../push/sink.js';
import type { EventRecord, MetricBatch } from '../../push/types.js';
import { DeliveryError } from '../../delivery/errors.js';
import { checkHost, EgressForbiddenError, refusedLiteral } from '../../delivery/egress.js';
import { StatsdConfigSchema, type StatsdConfig } from './config.js';
import { encodeBatch, encodeEvents, testDatagram, type EncodeOptions, type Encoded } from './encode.js';
import { Outbox, type DatagramLink, type OutboxReport } from './outbox.js';

/** The port DogStatsD and StatsD both listen on unless told otherwise. */
export const DEFAULT_PORT = 8125;

/**
 * Datagrams of one sink with the socket and unconfirmed at once. 64 of the default 1432 bytes is
 * under 100 KiB per integration, and enough that the loop is not what limits a push's speed.
 */
export const DEFAULT_WINDOW = 64;

/**
 * How long a send waits, after its last datagram, for an ICMP port unreachable: on a LAN it is
 * back within a millisecond, and waiting ends at the first one. Without the wait a push of one
 * datagram to a port where nothing listens would always look delivered.
 */
export const DEFAULT_SETTLE_MS = 100;
/** The same for test connection, where a person waits for the answer anyway. */
export const DEFAULT_CHECK_SETTLE_MS = 500;

export interface StatsdSinkOptions {
  readonly window?: number;
  readonly settleMs?: number;
  readonly checkSettleMs?: number;
  /** Opens the link to a resolved address: a connected UDP socket unless a test gives another. */
  readonly openLink?: (target: Target) => Promise<Link>;
}

export interface Target {
  readonly address: string;
  readonly family: 4 | 6;
  readonly port: number;
  /** Whether the egress guard checked `address` (off where the gateway allows private egress). */
  readonly guarded: boolean;
}

/** A link the sink can send through, with what came back from the network on its own. */
export interface Link extends DatagramLink {
  readonly address: string;
  /** ICMP port unreachable answers seen so far (ECONNREFUSED on the connected socket). */
  readonly refusals: number;
  /** Resolves true at the next refusal, false after `ms` (or when `signal` aborts). */
  nextRefusal(ms: number, signal?: AbortSignal): Promise<boolean>;
  /** Whether the link can no longer send (its socket closed or failed). */
  readonly broken: boolean;
  /** Closes once the datagrams with it are confirmed; resolves when closed. */
  retire(): Promise<void>;
  close(): Promise<void>;
}

/** A connected UDP socket: the kernel then reports ICMP errors from the receiver back to it. */
class UdpLink implements Link {
  refusals = 0;
  broken = false;
  private inFlight = 0;
  private retired = false;
  private closing: Promise<void> | undefined;
  private readonly refusalWaiters = new Set<(refused: boolean) => void>();

  private constructor(
    private readonly socket: dgram.Socket,
    readonly address: string,
  ) {
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // recvmsg errors are ICMP answers to earlier datagrams, not the end of the socket.
      if (err.code === 'ECONNREFUSED') this.refused();
      else if (err.syscall !== 'recvmsg') this.broken = true;
    });
    socket.on('close', () => {
      this.broken = true;
    });
  }

  static open(t: Target): Promise<Link> {
    // No guarded `lookup` here: dgram also looks up the implicit bind address 0.0.0.0 with it,
    // which the guard refuses as unspecified. The address connected to is the literal resolve()
    // checked, so no second DNS answer can come between the check and the connection.
    const socket = dgram.createSocket(t.family === 6 ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        try {
          socket.close();
        } catch {
          // closed already
        }
        reject(err);
      };
      // Until the link listens itself: an 'error' with no listener would end the process.
      socket.once('error', fail);
      socket.connect(t.port, t.address, (err?: Error) => {
        socket.off('error', fail);
        if (err) fail(err);
        else if (!settled) {
          settled = true;
          resolve(new UdpLink(socket, t.address));
        }
      });
    });
  }

  send(datagram: Uint8Array, done: (err: Error | null) => void): void {
    if (this.broken) {
      setImmediate(done, new DeliveryError('network', 'the UDP socket was closed', true));
      return;
    }
    this.inFlight++;
    try {
      this.socket.send(datagram, (err) => {
        this.inFlight--;
        if ((err as NodeJS.ErrnoException | null)?.code === 'ECONNREFUSED') this.refused();
        done(err ?? null);
        if (this.retired && this.inFlight === 0) void this.close();
      });
    } catch (err) {
      // Closed under the send (ERR_SOCKET_DGRAM_NOT_RUNNING): answered like any refusal, later.
      this.inFlight--;
      this.broken = true;
      setImmediate(done, err as Error);
    }
  }

  nextRefusal(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (refused: boolean) => {
        clearTimeout(timer);
        this.refusalWaiters.delete(onRefusal);
        signal?.removeEventListener('abort', onAbort);
        resolve(refused);
      };
      const onRefusal = (refused: boolean) => finish(refused);
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), ms);
      this.refusalWaiters.add(onRefusal);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  retire(): Promise<void> {
    this.retired = true;
    if (this.inFlight === 0 || this.closing !== undefined) return this.close();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.broken = true;
      for (const wake of [...this.refusalWaiters]) wake(false);
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // closed already
      }
    });
    return this.closing;
  }

  private refused(): void {
    this.refusals++;
    for (const wake of [...this.refusalWaiters]) wake(true);
  }
}

interface Resolved {
  readonly target: Target;
  /** Every address the name resolved to (the literal itself for an IP endpoint). */
  readonly addresses: readonly string[];
  readonly literal: boolean;
}

export class StatsdSink implements Sink {
  private readonly host: string;
  private readonly port: number;
  private readonly where: string;
  private readonly opts: EncodeOptions;
  private readonly outbox: Outbox;
  private readonly settleMs: number;
  private readonly checkSettleMs: number;
  private readonly openLink: (t: Target) => Promise<Link>;
  /** The encoding of each batch, made once: a retry resends the same datagrams. */
  private readonly encoded = new WeakMap<MetricBatch, Encoded>();
  private link: Link | undefined;
  /** Link changes one at a time: a push and a log send may both find the address changed. */
  private linking: Promise<unknown> = Promise.resolve();
  private readonly retired = new Set<Link>();
  private closed = false;

  constructor(
    endpoint: URL,
    private readonly config: StatsdConfig,
    private readonly ctx: SinkContext,
    options: StatsdSinkOptions = {},
  ) {
    this.host = endpoint.hostname.replace(/^\[|\]$/g, '');
    this.port = endpoint.port === '' ? DEFAULT_PORT : Number(endpoint.port);
    this.where = `udp://${endpoint.hostname}:${this.port}`;
    this.opts = { flavor: config.flavor, prefix: config.prefix, maxDatagramBytes: config.max_datagram_bytes };
    this.outbox = new Outbox(options.window ?? DEFAULT_WINDOW);
    this.settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    this.checkSettleMs = options.checkSettleMs ?? DEFAULT_CHECK_SETTLE_MS;
    this.openLink = options.openLink ?? UdpLink.open;
  }

  async send(batch: MetricBatch, signal: AbortSignal): Promise<SendResult> {
    // Encoded in the turn delivery made the batch in, before any await (see snapshot.ts).
    let enc = this.encoded.get(batch);
    if (enc === undefined) {
      enc = encodeBatch(batch, this.opts);
      this.encoded.set(batch, enc);
    }
    return this.deliver(enc, 'data points', signal);
  }

  async sendLogs(records: readonly EventRecord[], signal: AbortSignal): Promise<SendResult> {
    return this.deliver(encodeEvents(records, this.opts), 'events', signal);
  }

  async check(signal: AbortSignal): Promise<CheckResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    const what = this.opts.flavor === 'dogstatsd' ? 'DogStatsD service check meterway_test_connection' : 'StatsD gauge meterway_test_connection';
    const fail = (message: string): CheckResult => ({ ok: false, latency_ms: latency(), message });
    try {
      const deadline = Date.now() + this.config.timeout_s * 1000;
      const resolved = await this.resolve(deadline);
      const link = await this.connect(resolved);
      const before = link.refusals;
      const out = await this.outbox.send(link, [testDatagram(this.opts)], deadline, signal);
      if (out.handed === 0) throw this.notHanded(out);
      const found = this.foundWords(resolved);
      if (link.refusals > before || (await link.nextRefusal(this.checkSettleMs, signal))) {
        return fail(
          `nothing is listening on ${this.where}: ${found}, the test datagram was handed to the kernel, and the host answered ` +
            'ICMP port unreachable (ECONNREFUSED); check the port, and that the StatsD server or Datadog Agent is running and listens on UDP there',
        );
      }
      return {
        ok: true,
        latency_ms: latency(),
        message:
          `sent a ${what} to ${this.where}: ${found}, the datagram was handed to the kernel, and no ICMP port unreachable came back ` +
          `within ${this.checkSettleMs} ms. UDP has no acknowledgement, so this does not prove that anything listens (a firewall ` +
          'may drop the datagram or the ICMP answer); look for meterway_test_connection at the receiver',
      };
    } catch (err) {
      if (!(err instanceof DeliveryError)) throw err;
      return fail(this.describeFailure(err));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.linking.catch(() => undefined);
    const links = [...this.retired, ...(this.link === undefined ? [] : [this.link])];
    this.link = undefined;
    this.retired.clear();
    await Promise.all(links.map((l) => l.close()));
  }

  // ---- sending ------------------------------------------------------------------------------

  private async deliver(enc: Encoded, unit: string, signal: AbortSignal): Promise<SendResult> {
    if (this.closed) throw new DeliveryError('network', `the ${this.where} sink was closed`, true);
    const deadline = Date.now() + this.config.timeout_s * 1000;
    if (enc.datagrams.length === 0) return this.result(enc, undefined, unit);
    // The guard runs at every send: what a name resolves to may have changed since the last.
    const link = await this.connect(await this.resolve(deadline));
    const before = link.refusals;
    const out = await this.outbox.send(link, enc.datagrams, deadline, signal);
    if (out.cancelled) throw new DeliveryError('network', `sending to ${this.where} was cancelled`, true);
    if (out.handed > 0 && link.refusals === before) await link.nextRefusal(Math.min(this.settleMs, deadline - Date.now()), signal);
    const refused = link.refusals - before;
    if (refused > 0) {
      // Whatever went out went to a port where nothing listened: the send failed as a whole, so
      // delivery keeps its deltas for the next push instead of counting them delivered.
      throw new DeliveryError(
        'refused',
        `nothing is listening on ${this.where}: ${refused} ICMP port unreachable ${refused === 1 ? 'answer' : 'answers'} (ECONNREFUSED) came back ` +
          `while sending ${out.handed + out.failed} of ${enc.datagrams.length} datagrams; check the port, and that the StatsD server or Datadog Agent is running`,
        true,
      );
    }
    if (out.handed === 0) throw this.notHanded(out);
    return this.result(enc, out, unit);
  }

  /** What the send kept and lost, in points (or events): a datagram the kernel took cannot be taken back. */
  private result(enc: Encoded, out: OutboxReport | undefined, unit: string): SendResult {
    const lostDatagrams = out === undefined ? 0 : out.lost.length;
    if (lostDatagrams === 0 && enc.droppedPoints.length === 0) return { sent: enc.points };
    const mark = new Uint8Array(enc.points);
    for (const p of enc.droppedPoints) mark[p] = 1;
    if (out !== undefined) for (const d of out.lost) mark.fill(1, enc.firstPoint[d], enc.lastPoint[d] + 1);
    let rejected = 0;
    for (let i = 0; i < mark.length; i++) rejected += mark[i];
    const parts: string[] = [];
    if (out !== undefined) {
      const late = out.dropped + out.unconfirmed;
      if (late > 0) {
        parts.push(
          `${late} of ${enc.datagrams.length} datagrams were dropped: the socket did not take them within timeout_s (${this.config.timeout_s} s); ` +
            `at most ${this.outbox.window} wait with the socket at once`,
        );
      }
      if (out.failed > 0) parts.push(`${out.failed} datagrams were refused by the kernel (${[...out.errors].map(([c, n]) => `${c} ×${n}`).join(', ')})`);
    }
    if (enc.oversizeLines > 0) {
      parts.push(
        `${enc.oversizeLines} lines were longer than max_datagram_bytes (${this.config.max_datagram_bytes}) on their own and were dropped; ` +
          'raise max_datagram_bytes if the receiver reads larger datagrams, or shorten the label values',
      );
    }
    if (enc.unrepresentable > 0) parts.push(`${enc.unrepresentable} values were NaN or infinite, which StatsD cannot carry, and were left out`);
    return { sent: enc.points - rejected, partial: { rejected, message: `${parts.join('; ')} (${unit} in all: ${enc.points})` } };
  }

  private notHanded(out: OutboxReport): DeliveryError {
    if (out.cancelled) return new DeliveryError('network', `sending to ${this.where} was cancelled`, true);
    if (out.firstError !== undefined) {
      const code = (out.firstError as NodeJS.ErrnoException).code ?? 'error';
      return new DeliveryError('network', `the kernel refused every datagram to ${this.where} (${code}: ${out.firstError.message})`, true);
    }
    return new DeliveryError('timeout', `the socket to ${this.where} took no datagram within timeout_s (${this.config.timeout_s} s)`, true);
  }

  // ---- where to --------------------------------------------------------------------------------

  /**
   * The address to send to, through the egress guard unless the gateway allows private egress:
   * a literal is classified at once, a name resolved and refused unless every address is public
   * (the rule checked when the integration was saved).
   */
  private async resolve(deadline: number): Promise<Resolved> {
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) {
      throw new DeliveryError('network', `${this.where}: the port must be 1 to 65535; give the receiver's port, like udp://${this.host}:${DEFAULT_PORT}`, false);
    }
    const guarded = !this.ctx.allowPrivateEgress;
    const family = isIP(this.host);
    if (family !== 0) {
      const refused = guarded ? refusedLiteral(this.host) : undefined;
      if (refused !== undefined) throw new DeliveryError('egress_forbidden', refused, false);
      return { target: { address: this.host, family: family as 4 | 6, port: this.port, guarded }, addresses: [this.host], literal: true };
    }
    let addresses: string[];
    try {
      const lookup = guarded ? checkHost(this.host) : dnsLookup(this.host, { all: true }).then((list) => list.map((a) => a.address));
      addresses = await beforeDeadline(lookup, deadline, () => new DeliveryError('timeout', `DNS lookup for ${this.host} did not answer within timeout_s (${this.config.timeout_s} s)`, true));
    } catch (err) {
      if (err instanceof DeliveryError) throw err;
      if (err instanceof EgressForbiddenError) throw new DeliveryError('egress_forbidden', err.message, false);
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new DeliveryError('dns', `DNS lookup for ${this.host} failed (${code}): check the host name`, true);
    }
    if (addresses.length === 0) throw new DeliveryError('dns', `DNS lookup for ${this.host} found no address: check the host name`, true);
    // UDP has no connection attempt to fall back from, and StatsD servers listen on IPv4 unless
    // told otherwise (Etsy's StatsD unless `address_ipv6`; the Agent's DogStatsD on `localhost`,
    // usually 127.0.0.1), so a name with both kinds of address is sent to over IPv4.
    const address = addresses.find((a) => isIP(a) === 4) ?? addresses[0];
    return { target: { address, family: isIP(address) === 6 ? 6 : 4, port: this.port, guarded }, addresses, literal: false };
  }

  /** The link to the resolved address: the one there is, or a new one when the address moved. */
  private connect(r: Resolved): Promise<Link> {
    const next = this.linking.then(async () => {
      if (this.closed) throw new DeliveryError('network', `the ${this.where} sink was closed`, true);
      const current = this.link;
      // A name whose answers rotate (round-robin DNS) keeps its socket while its address is still one of them.
      if (current !== undefined && !current.broken && r.addresses.includes(current.address)) return current;
      if (current !== undefined) {
        // Datagrams still with the old socket go out before it closes.
        this.retired.add(current);
        void current.retire().then(() => this.retired.delete(current));
        this.link = undefined;
      }
      try {
        this.link = await this.openLink(r.target);
      } catch (err) {
        if (err instanceof DeliveryError) throw err;
        if (err instanceof EgressForbiddenError) throw new DeliveryError('egress_forbidden', err.message, false);
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw new DeliveryError('network', `could not open a UDP socket to ${r.target.address}:${r.target.port} (${code}: ${(err as Error).message})`, true);
      }
      return this.link;
    });
    this.linking = next.catch(() => undefined);
    return next;
  }

  private foundWords(r: Resolved): string {
    const dns = r.literal ? `${this.host} is an IP address (no DNS lookup)` : `DNS resolved ${this.host} to ${r.addresses.join(', ')} (sending to ${r.target.address})`;
    const guard = r.target.guarded ? 'the egress guard found it public' : 'private egress is allowed on this gateway, so the egress guard did not check it';
    return `${dns}, ${guard}`;
  }

  /** What test connection says: what failed, in words that point at the fix. */
  private describeFailure(e: DeliveryError): string {
    switch (e.reason) {
      case 'egress_forbidden':
        return `refused by the egress guard, nothing was sent: ${e.message}`;
      case 'dns':
        return `DNS failure, nothing was sent: ${e.message}`;
      default:
        return e.message;
    }
  }
}

/** `p`, or the error `late()` makes if the deadline comes first. */
function beforeDeadline<T>(p: Promise<T>, deadline: number, late: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(late()), Math.max(0, deadline - Date.now()));
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export const statsdSinkFactory: SinkFactory<StatsdConfig> = {
  kind: 'statsd',
  schemes: ['udp:'],
  configSchema: StatsdConfigSchema,
  // StatsD counters are increments per flush: delivery hands over deltas, and a failed push's
  // increments roll into the next one.
  temporality: () => 'delta',
  create: (endpoint, config, ctx) => new StatsdSink(endpoint, config, ctx),
};
