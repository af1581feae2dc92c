/**
 * Validates a batch of decoded events and applies the valid ones. Valid events are kept even when
 * others in the same batch are rejected; each rejection names its index and field.
 */
import type { Aggregator } from '../aggregate/project.js';
import { EVENT_TYPES } from './events.js';
import { checkFields, FieldError, parseTimestamp, type RejectReason } from './fields.js';
import type { Source } from '../sources/source.js';

/** One element of a batch: a decoded JSON value, or the reason its line could not be decoded. */
export type BatchItem = { value: unknown } | { parseError: string };

export interface Rejection {
  readonly index: number;
  readonly error: string;
}

export interface IngestResult {
  accepted: number;
  rejected: Rejection[];
  /** Per project: samples dropped because the project reached its series limit. */
  seriesLimited: Map<string, number>;
}

export interface IngestScope {
  /** The project an ingest token is bound to; undefined for a server-wide token. */
  readonly project?: string;
}

export interface IngestObserver {
  accepted(type: string): void;
  rejected(reason: RejectReason): void;
}


/** The events' source (HTTP events and the demo feed it); their self-metrics are `meterway_events_*`. */
export class Ingestor implements Source {
  readonly name = 'events';

  constructor(
    private readonly aggregator: Aggregator,
    private readonly observer?: IngestObserver,
    /** Receives every accepted event (raw-event forwarding); it must only enqueue. */
    private readonly forward?: (projectId: string, event: Record<string, unknown>, eventMs: number, nowMs: number) => void,
  ) {}

  ingest(items: readonly BatchItem[], scope: IngestScope, nowMs = Date.now()): IngestResult {
    const result: IngestResult = { accepted: 0, rejected: [], seriesLimited: new Map() };
    const reject = (index: number, err: FieldError): void => {
      this.observer?.rejected(err.reason);
      result.rejected.push({ index, error: err.message });
    };
    for (let index = 0; index < items.length; index++) {
      const item = items[index];
      if ('parseError' in item) {
        reject(index, new FieldError('invalid_json', item.parseError));
        continue;
      }
      const ev = item.value;
      if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) {
        reject(index, new FieldError('not_an_object', 'event: must be a JSON object with a "type" field'));
        continue;
      }
      const e = ev as Record<string, unknown>;
      const typeName = e.type;
      const type = typeof typeName === 'string' ? EVENT_TYPES[typeName] : undefined;
      if (type === undefined) {
        const why = typeName === undefined ? 'type: is required' : `type: unknown event type ${JSON.stringify(typeName)}`;
        reject(index, new FieldError(typeName === undefined ? 'missing_field' : 'unknown_type', `${why}; use one of ${Object.keys(EVENT_TYPES).join(', ')}`));
        continue;
      }
      const projectId = e.project_id ?? scope.project;
      if (projectId === undefined) {
        reject(index, new FieldError('missing_field', 'project_id: is required'));
        continue;
      }
      if (typeof projectId !== 'string') {
        reject(index, new FieldError('invalid_field', 'project_id: must be a string like "p-abcd1234"'));
        continue;
      }
      // A project-bound token sees other projects as unknown, so their ids cannot be probed.
      const pm = scope.project !== undefined && scope.project !== projectId ? undefined : this.aggregator.get(projectId);
      if (pm === undefined) {
        reject(index, new FieldError('unknown_project', `project_id: unknown project ${JSON.stringify(projectId)} for this token`));
        continue;
      }
      const fieldErr = checkFields(e, type.rules);
      if (fieldErr !== undefined) {
        reject(index, fieldErr);
        continue;
      }
      const ts = parseTimestamp(e.timestamp, nowMs);
      if (ts instanceof FieldError) {
        reject(index, ts);
        continue;
      }
      const droppedBefore = pm.registry.droppedSamples;
      const refused = type.apply(e, pm, ts, nowMs);
      if (refused !== undefined) {
        reject(index, refused);
        continue;
      }
      const dropped = pm.registry.droppedSamples - droppedBefore;
      if (dropped > 0) result.seriesLimited.set(pm.projectId, (result.seriesLimited.get(pm.projectId) ?? 0) + dropped);
      result.accepted++;
      this.observer?.accepted(typeName as string);
      this.forward?.(pm.projectId, e, ts, nowMs);
    }
    return result;
  }
}
