/**
 * Raw events as an OTLP ExportLogsServiceRequest: one LogRecord per accepted event, with every
 * field of the event as an attribute and the event's own time.
 *
 * `event_name` (LogRecord field 12) is newer than the vendored OTLP v0.19 schema; it is written
 * anyway (receivers on older schemas skip an unknown field) and the name also goes into the
 * attribute `event.name`, which every receiver keeps.
 */
import type { Attributes } from '../../push/types.js';
import { jsonDouble, jsonResource, jsonScope, type InstrumentationScope, writeResource, writeScope } from './encode-metrics.js';
import { nanosDecimalFromMs, nanosFromMs, ProtoWriter, uint64Decimal, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from '../../wire/protobuf-writer.js';

export type LogAttributeValue = string | number | boolean;

export interface LogRecordInput {
  readonly timeMs: number;
  readonly observedMs: number;
  readonly attributes: ReadonlyArray<readonly [string, LogAttributeValue]>;
  readonly body?: string;
  readonly eventName?: string;
  readonly severityText?: string;
}

export const EVENT_NAME_ATTRIBUTE = 'event.name';

const TWO_32 = 0x1_0000_0000;
const TWO_63 = 2 ** 63;

/** Integers in the int64 range travel as int_value, every other number as double_value. */
function isInt64(v: number): boolean {
  return Number.isInteger(v) && v >= -TWO_63 && v < TWO_63;
}

/**
 * SeverityNumber of a severity text, by the OpenTelemetry log data model's ranges (the first of
 * each range); 0 (unspecified, not sent) for a text it does not name.
 */
export function severityNumberOf(text: string | undefined): number {
  if (text === undefined) return 0;
  const t = text.trim().toUpperCase();
  if (t.startsWith('TRACE')) return 1;
  if (t.startsWith('DEBUG')) return 5;
  if (t.startsWith('INFO') || t === 'NOTICE') return 9;
  if (t.startsWith('WARN')) return 13;
  if (t.startsWith('ERR')) return 17;
  if (t.startsWith('FATAL') || t === 'CRITICAL' || t === 'ALERT' || t === 'EMERGENCY') return 21;
  return 0;
}

/** AnyValue of a string, number or boolean, its length in front, no tag. */
function writeAnyValue(w: ProtoWriter, v: LogAttributeValue): void {
  const a0 = w.mark();
  if (typeof v === 'string') {
    w.string(v);
    w.tag(1, WIRE_LEN);
  } else if (typeof v === 'boolean') {
    w.varint32(v ? 1 : 0);
    w.tag(2, WIRE_VARINT);
  } else if (isInt64(v)) {
    w.int64(v);
    w.tag(3, WIRE_VARINT);
  } else {
    w.double(v);
    w.tag(4, WIRE_FIXED64);
  }
  w.lengthSince(a0);
}

function writeKeyValue(w: ProtoWriter, field: number, key: string, value: LogAttributeValue): void {
  const k0 = w.mark();
  writeAnyValue(w, value);
  w.tag(2, WIRE_LEN);
  w.string(key);
  w.tag(1, WIRE_LEN);
  w.lengthSince(k0);
  w.tag(field, WIRE_LEN);
}

function hasEventNameAttribute(r: LogRecordInput): boolean {
  for (const a of r.attributes) if (a[0] === EVENT_NAME_ATTRIBUTE) return true;
  return false;
}

function writeLogRecord(w: ProtoWriter, r: LogRecordInput): void {
  const r0 = w.mark();
  if (r.eventName !== undefined && r.eventName !== '') {
    w.string(r.eventName);
    w.tag(12, WIRE_LEN);
  }
  const observed = nanosFromMs(r.observedMs);
  w.fixed64(observed.lo, observed.hi);
  w.tag(11, WIRE_FIXED64);
  // attributes (field 6); event.name last, unless the event already has one
  if (r.eventName !== undefined && r.eventName !== '' && !hasEventNameAttribute(r)) {
    writeKeyValue(w, 6, EVENT_NAME_ATTRIBUTE, r.eventName);
  }
  for (let i = r.attributes.length - 1; i >= 0; i--) writeKeyValue(w, 6, r.attributes[i][0], r.attributes[i][1]);
  if (r.body !== undefined) {
    writeAnyValue(w, r.body);
    w.tag(5, WIRE_LEN);
  }
  if (r.severityText !== undefined && r.severityText !== '') {
    w.string(r.severityText);
    w.tag(3, WIRE_LEN);
  }
  const sev = severityNumberOf(r.severityText);
  if (sev !== 0) {
    w.varint32(sev);
    w.tag(2, WIRE_VARINT);
  }
  const time = nanosFromMs(r.timeMs);
  w.fixed64(time.lo, time.hi);
  w.tag(1, WIRE_FIXED64);
  w.lengthSince(r0);
  w.tag(2, WIRE_LEN); // ScopeLogs.log_records
}

/** The records as a protobuf ExportLogsServiceRequest (one ResourceLogs, one ScopeLogs). */
export function encodeLogsProtobuf(records: readonly LogRecordInput[], resource: Attributes, scope: InstrumentationScope): Uint8Array {
  const w = new ProtoWriter(1024 + records.length * 256);
  const rl0 = w.mark();
  const sl0 = w.mark();
  for (let i = records.length - 1; i >= 0; i--) writeLogRecord(w, records[i]);
  writeScope(w, 1, scope);
  w.lengthSince(sl0);
  w.tag(2, WIRE_LEN); // ResourceLogs.scope_logs
  writeResource(w, 1, resource);
  w.lengthSince(rl0);
  w.tag(1, WIRE_LEN); // ExportLogsServiceRequest.resource_logs
  const out = w.finish();
  return out.length * 2 < w.buf.length ? out.slice() : out;
}

/** An int64 as a JSON decimal string, exact beyond 2^53. */
function jsonInt64(v: number): string {
  if (Number.isSafeInteger(v)) return `"${v}"`;
  const abs = Math.abs(v);
  const digits = uint64Decimal(abs >>> 0, Math.floor(abs / TWO_32) >>> 0);
  return v < 0 ? `"-${digits}"` : `"${digits}"`;
}

function jsonAnyValue(v: LogAttributeValue): string {
  if (typeof v === 'string') return `{"stringValue":${JSON.stringify(v)}}`;
  if (typeof v === 'boolean') return `{"boolValue":${v}}`;
  if (isInt64(v)) return `{"intValue":${jsonInt64(v)}}`;
  return `{"doubleValue":${jsonDouble(v)}}`;
}

function jsonLogRecord(r: LogRecordInput): string {
  let out = `{"timeUnixNano":"${nanosDecimalFromMs(r.timeMs)}"`;
  const sev = severityNumberOf(r.severityText);
  if (sev !== 0) out += `,"severityNumber":${sev}`;
  if (r.severityText !== undefined && r.severityText !== '') out += `,"severityText":${JSON.stringify(r.severityText)}`;
  if (r.body !== undefined) out += `,"body":${jsonAnyValue(r.body)}`;
  const attrs: string[] = [];
  for (const [k, v] of r.attributes) attrs.push(`{"key":${JSON.stringify(k)},"value":${jsonAnyValue(v)}}`);
  const named = r.eventName !== undefined && r.eventName !== '';
  if (named && !hasEventNameAttribute(r)) attrs.push(`{"key":"${EVENT_NAME_ATTRIBUTE}","value":${jsonAnyValue(r.eventName as string)}}`);
  out += `,"attributes":[${attrs.join(',')}]`;
  out += `,"observedTimeUnixNano":"${nanosDecimalFromMs(r.observedMs)}"`;
  if (named) out += `,"eventName":${JSON.stringify(r.eventName)}`;
  return out + '}';
}

/** The records as an OTLP/JSON ExportLogsServiceRequest. */
export function encodeLogsJson(records: readonly LogRecordInput[], resource: Attributes, scope: InstrumentationScope): string {
  const recs = records.map(jsonLogRecord);
  return `{"resourceLogs":[{"resource":${jsonResource(resource)},"scopeLogs":[{"scope":${jsonScope(scope)},"logRecords":[${recs.join(',')}]}]}]}`;
}
