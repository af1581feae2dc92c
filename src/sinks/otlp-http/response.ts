/**
 * The `partial_success` of an OTLP export response. The vendored schema (OTLP v0.19) predates the
 * field, so a decoder generated from it would drop it; this reads it by hand:
 *
 *   Export{Metrics,Logs}ServiceResponse { Export…PartialSuccess partial_success = 1; }
 *   Export…PartialSuccess { int64 rejected_data_points | rejected_log_records = 1; string error_message = 2; }
 *
 * A success body is informational: anything unreadable yields `undefined` rather than an error, so
 * a receiver's odd body never turns a delivered push into a failure.
 */
import { ProtoReader } from '../../wire/protobuf-reader.js';
import { WIRE_LEN, WIRE_VARINT } from '../../wire/protobuf-writer.js';

export interface PartialSuccess {
  /** Data points (or log records) the receiver rejected; 0 with a message is a warning. */
  readonly rejected: number;
  readonly message: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Decodes a response body. `contentType` picks the encoding; without one (or an unknown one) a
 * body whose first non-blank byte is `{` is read as JSON, anything else as protobuf (a protobuf
 * response cannot start with `{`: that would be field 15 with a group wire type).
 * Returns `undefined` when there is no partial success, or it is empty (nothing rejected, no
 * message), or the body cannot be read.
 */
export function decodePartialSuccess(body: Uint8Array, contentType?: string): PartialSuccess | undefined {
  if (body.length === 0) return undefined;
  const ct = (contentType ?? '').toLowerCase();
  let json: boolean;
  if (ct.includes('json')) json = true;
  else if (ct.includes('protobuf')) json = false;
  else json = firstNonBlank(body) === 0x7b;
  try {
    const found = json ? fromJson(utf8.decode(body)) : fromProtobuf(body);
    if (found === undefined || (found.rejected === 0 && found.message === '')) return undefined;
    return found;
  } catch {
    return undefined;
  }
}

function firstNonBlank(b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c;
  }
  return -1;
}

function fromJson(text: string): PartialSuccess | undefined {
  const doc: unknown = JSON.parse(text);
  if (typeof doc !== 'object' || doc === null) return undefined;
  const d = doc as Record<string, unknown>;
  // proto3 JSON parsers accept the lowerCamelCase name and the proto field name alike.
  const ps = d.partialSuccess ?? d.partial_success;
  if (typeof ps !== 'object' || ps === null) return undefined;
  const p = ps as Record<string, unknown>;
  const rejectedRaw = p.rejectedDataPoints ?? p.rejected_data_points ?? p.rejectedLogRecords ?? p.rejected_log_records ?? p.rejectedSpans ?? p.rejected_spans;
  const msgRaw = p.errorMessage ?? p.error_message;
  let rejected = 0;
  if (typeof rejectedRaw === 'number') rejected = rejectedRaw;
  else if (typeof rejectedRaw === 'string' && /^-?\d+$/.test(rejectedRaw.trim())) rejected = Number(rejectedRaw);
  return { rejected: Number.isFinite(rejected) ? rejected : 0, message: typeof msgRaw === 'string' ? msgRaw : '' };
}

function fromProtobuf(buf: Uint8Array): PartialSuccess | undefined {
  const r = new ProtoReader(buf);
  let found: PartialSuccess | undefined;
  while (r.more()) {
    const tag = r.tag();
    // A repeated occurrence of a message field merges into the first (protobuf rules).
    if (tag === ((1 << 3) | WIRE_LEN)) found = readPartialSuccess(r, r.enter(), found);
    else r.skip(tag & 7);
  }
  return found;
}

function readPartialSuccess(r: ProtoReader, end: number, prev: PartialSuccess | undefined): PartialSuccess {
  let rejected = prev?.rejected ?? 0;
  let message = prev?.message ?? '';
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | WIRE_VARINT)) rejected = r.int64();
    else if (tag === ((2 << 3) | WIRE_LEN)) message = utf8.decode(r.bytes());
    else r.skip(tag & 7);
  }
  r.leave(end);
  return { rejected, message };
}
