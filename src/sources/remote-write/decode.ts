/**
 * Prometheus remote write 1.0 bodies (`prometheus.WriteRequest`, after Snappy) into columns the
 * receiver applies. Only structure is checked here: a body that is not a WriteRequest is a
 * RemoteWriteBodyError (the route answers 400); whether each series can be taken is the
 * receiver's decision, per series.
 *
 * The body is read once, column by column, with no object per series or per sample: the
 * receiver keeps only a series' newest sample (the aggregation holds one value per series, and
 * the samples of a series come in time order), so the decoder keeps that one and a count of the
 * rest. A series' labels stay where they lie in the body: their bytes identify the series in the
 * receiver's cache, and they are decoded only on a miss, which for a sender that writes the same
 * series every scrape is almost never.
 */
import { randomBytes } from 'node:crypto';
import { ProtoError, ProtoReader } from '../../wire/protobuf-reader.js';

export class RemoteWriteBodyError extends Error {}

/** MetricMetadata.MetricType, as Prometheus numbers it. */
export const METRIC_TYPES = ['unknown', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset'] as const;
export type MetricTypeName = (typeof METRIC_TYPES)[number];

export interface MetadataIn {
  readonly type: MetricTypeName;
  /** The family's name as the sender's scrape had it (`http_requests` for an OpenMetrics counter, `http_requests_total` from the text format). */
  readonly name: string;
  readonly help: string;
  readonly unit: string;
}

/**
 * The body's TimeSeries, one entry per series in every column. `samples` counts its float
 * samples; `newestValue`, `newestMs` and `newestStale` describe the newest of them (the last of
 * equal times, as a sender that appends in order means it).
 *
 * A series' labels are known by a hash of their bytes (`labelHash`, seeded per process so that
 * collisions cannot be prepared offline) and checked byte for byte against what a cache holds
 * (`sameLabels`): hashing and comparing whole words costs half of what making a string of the
 * bytes and having a Map hash it does, and a 1,000-series request is 1,000 such lookups.
 */
export class SeriesColumns {
  count = 0;
  /** Hash of the bytes of the series' Label fields; -1 when they are not one run (see labelKey). */
  readonly labelHash: number[] = [];
  /** Where the Label fields lie, when they are one run (as every encoder writes them: labels first). */
  readonly labelStart: number[] = [];
  readonly labelEnd: number[] = [];
  /** Where each series' message lies in the body: its labels are read from there on demand. */
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly samples: number[] = [];
  readonly newestValue: number[] = [];
  readonly newestMs: number[] = [];
  /** 1 when the newest sample is Prometheus' staleness marker (the series ended). */
  readonly newestStale: number[] = [];
  /** Native histogram samples (TimeSeries field 4). */
  readonly histograms: number[] = [];
  readonly exemplars: number[] = [];

  constructor(
    private readonly r: ProtoReader,
    private readonly view: DataView,
  ) {}

  /**
   * Series `i`'s labels as a flat list, name, value, name, value, ..., in the order sent. Throws
   * RemoteWriteBodyError when a label is not valid protobuf or not UTF-8 (only that series is lost).
   */
  labels(i: number): string[] {
    const out: string[] = [];
    const r = this.r.at(this.starts[i], this.ends[i]);
    try {
      while (r.more()) {
        const tag = r.tag();
        if (tag !== tagOf(1, LEN)) {
          r.skip(tag & 7);
          continue;
        }
        const end = r.enter();
        let name = '';
        let value = '';
        while (r.pos < end) {
          const t = r.tag();
          if (t === tagOf(1, LEN)) name = r.string();
          else if (t === tagOf(2, LEN)) value = r.string();
          else r.skip(t & 7);
        }
        r.leave(end);
        out.push(name, value);
      }
    } catch (err) {
      if (err instanceof ProtoError) throw new RemoteWriteBodyError(`a label of this series is not valid: ${err.message}`);
      throw err;
    }
    return out;
  }

  /**
   * The bytes of series `i`'s Label fields, one after the other, as a string of one character per
   * byte: the key of a series whose labels are not one run (each run is whole fields, so the
   * concatenation still reads as exactly these labels).
   */
  labelKey(i: number): string {
    let key = '';
    const r = this.r.at(this.starts[i], this.ends[i]);
    while (r.more()) {
      const at = r.pos;
      const tag = r.tag();
      r.skip(tag & 7);
      if (tag === tagOf(1, LEN)) key += r.bytesKey(at, r.pos);
    }
    return key;
  }

  /** The label bytes of series `i` as words, for a cache to compare later series with (sameLabels). */
  labelWords(i: number): Int32Array {
    const start = this.labelStart[i];
    const end = this.labelEnd[i];
    const n = (end - start) >> 2;
    const words = new Int32Array(n + 1);
    for (let k = 0; k < n; k++) words[k] = this.view.getInt32(start + 4 * k, true);
    words[n] = tail(this.r.buf, start + 4 * n, end);
    return words;
  }

  /** Whether series `i`'s label bytes are the `length` bytes `words` holds. */
  sameLabels(i: number, words: Int32Array, length: number): boolean {
    const start = this.labelStart[i];
    const end = this.labelEnd[i];
    if (end - start !== length) return false;
    const n = length >> 2;
    const view = this.view;
    for (let k = 0; k < n; k++) if (words[k] !== view.getInt32(start + 4 * k, true)) return false;
    return words[n] === tail(this.r.buf, start + 4 * n, end);
  }
}

/** The last 0 to 3 bytes of a run as one number. */
function tail(buf: Uint8Array, from: number, end: number): number {
  let t = 0;
  for (let p = from; p < end; p++) t = (t << 8) | buf[p];
  return t;
}

const SEED = randomBytes(4).readUInt32LE(0);

/**
 * A 31-bit hash of bytes [start, end), a word at a time in two lanes (multiply-xor each, mixed at
 * the end): two lanes keep two multiplications in flight instead of one chain, which halves the
 * cost; the hash only spreads label sets over the cache, which compares the bytes in full.
 */
function hashBytes(view: DataView, buf: Uint8Array, start: number, end: number): number {
  let h = (SEED ^ (end - start)) | 0;
  let g = 0x12345678 ^ SEED;
  let p = start;
  for (; p + 8 <= end; p += 8) {
    h = Math.imul(h ^ view.getInt32(p, true), 0x01000193);
    g = Math.imul(g ^ view.getInt32(p + 4, true), 0x5bd1e995);
  }
  for (; p < end; p++) h = Math.imul(h ^ buf[p], 0x01000193);
  h ^= Math.imul(g ^ (g >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= h >>> 13;
  return h & 0x7fffffff;
}

export interface WriteRequestIn {
  readonly series: SeriesColumns;
  readonly metadata: MetadataIn[];
  /** Float samples of all series together. */
  readonly samples: number;
}

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const tagOf = (field: number, wire: number): number => (field << 3) | wire;

export function decodeWriteRequest(body: Uint8Array): WriteRequestIn {
  const r = new ProtoReader(body);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const series = new SeriesColumns(r, view);
  const metadata: MetadataIn[] = [];
  let samples = 0;
  try {
    while (r.more()) {
      const at = r.pos;
      const tag = r.tag();
      if (tag === tagOf(1, LEN)) samples += timeSeries(r, view, r.enter(), series);
      else if (tag === tagOf(3, LEN)) metadata.push(metricMetadata(r, r.enter()));
      else if ((tag >>> 3) === 1 || (tag >>> 3) === 3) throw new ProtoError(`field ${tag >>> 3} at byte ${at} has wire type ${tag & 7}, not a message`);
      else r.skip(tag & 7);
    }
  } catch (err) {
    if (err instanceof ProtoError) {
      throw new RemoteWriteBodyError(`the body is not a valid protobuf prometheus.WriteRequest (remote write 1.0): ${err.message}`);
    }
    throw err;
  }
  return { series, metadata, samples };
}

/** Reads one TimeSeries into the next row of `out`; returns its float samples. */
function timeSeries(r: ProtoReader, view: DataView, end: number, out: SeriesColumns): number {
  const start = r.pos;
  // The Label fields' byte run; a label after another field splits it (no encoder does that).
  let runStart = -1;
  let runEnd = -1;
  let split = false;
  let samples = 0;
  let histograms = 0;
  let exemplars = 0;
  let newestValue = 0;
  let newestMs = -Infinity;
  let newestStale = 0;
  const buf = r.buf;
  while (r.pos < end) {
    const at = r.pos;
    // The common shapes first, read off the bytes: a label under 128 bytes (tag 0x0a, one length
    // byte), and a Sample of under 128 bytes (tag 0x12); anything else takes the general path.
    if (buf[at] === 0x0a && buf[at + 1] < 0x80 && at + 2 + buf[at + 1] <= end) {
      r.pos = at + 2 + buf[at + 1];
      if (runStart < 0) runStart = at;
      else if (runEnd !== at) split = true;
      runEnd = r.pos;
      continue;
    }
    if (buf[at] === 0x12 && buf[at + 1] < 0x80 && buf[at + 2] === 0x09 && at + 11 <= end && at + 2 + buf[at + 1] <= end) {
      const sEnd = at + 2 + buf[at + 1];
      const p = at + 3;
      if (p + 8 <= sEnd) {
        const stale = buf[p] === 0x02 && buf[p + 1] === 0 && buf[p + 2] === 0 && buf[p + 3] === 0 && buf[p + 4] === 0 && buf[p + 5] === 0 && buf[p + 6] === 0xf0 && buf[p + 7] === 0x7f ? 1 : 0;
        const value = view.getFloat64(p, true);
        let ms = 0;
        r.pos = p + 8;
        if (r.pos < sEnd && buf[r.pos] === 0x10) {
          r.pos++;
          ms = r.int64();
        }
        if (r.pos === sEnd) {
          samples++;
          if (ms >= newestMs) {
            newestMs = ms;
            newestValue = value;
            newestStale = stale;
          }
          continue;
        }
      }
      r.pos = at;
    }
    const tag = r.tag();
    if (tag === tagOf(1, LEN)) {
      r.skip(LEN);
      if (runStart < 0) runStart = at;
      else if (runEnd !== at) split = true;
      runEnd = r.pos;
    } else if (tag === tagOf(2, LEN)) {
      const sEnd = r.enter();
      let value = 0;
      let ms = 0;
      let stale = 0;
      while (r.pos < sEnd) {
        const t = r.tag();
        if (t === tagOf(1, FIXED64)) {
          const p = r.pos;
          // The staleness marker is one NaN bit pattern (0x7ff0000000000002), told apart from
          // other NaNs by its bytes, little-endian; a double read may not keep a NaN's payload.
          stale = buf[p] === 0x02 && buf[p + 1] === 0 && buf[p + 2] === 0 && buf[p + 3] === 0 && buf[p + 4] === 0 && buf[p + 5] === 0 && buf[p + 6] === 0xf0 && buf[p + 7] === 0x7f ? 1 : 0;
          value = r.double();
        } else if (t === tagOf(2, VARINT)) ms = r.int64();
        else r.skip(t & 7);
      }
      r.leave(sEnd);
      samples++;
      if (ms >= newestMs) {
        newestMs = ms;
        newestValue = value;
        newestStale = stale;
      }
    } else if (tag === tagOf(3, LEN)) {
      exemplars++;
      r.skip(LEN);
    } else if (tag === tagOf(4, LEN)) {
      histograms++;
      r.skip(LEN);
    } else {
      const field = tag >>> 3;
      if (field >= 1 && field <= 4) throw new ProtoError(`TimeSeries field ${field} at byte ${at} has wire type ${tag & 7}, not a message`);
      r.skip(tag & 7);
    }
  }
  r.leave(end);
  if (runStart < 0) runStart = runEnd = start;
  const i = out.count++;
  out.labelHash[i] = split ? -1 : hashBytes(view, buf, runStart, runEnd);
  out.labelStart[i] = runStart;
  out.labelEnd[i] = runEnd;
  out.starts[i] = start;
  out.ends[i] = end;
  out.samples[i] = samples;
  out.newestValue[i] = newestValue;
  out.newestMs[i] = samples === 0 ? 0 : newestMs;
  out.newestStale[i] = newestStale;
  out.histograms[i] = histograms;
  out.exemplars[i] = exemplars;
  return samples;
}

function metricMetadata(r: ProtoReader, end: number): MetadataIn {
  let type = 0;
  let name = '';
  let help = '';
  let unit = '';
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === tagOf(1, VARINT)) type = r.varint();
    else if (tag === tagOf(2, LEN)) name = r.string();
    else if (tag === tagOf(4, LEN)) help = r.string();
    else if (tag === tagOf(5, LEN)) unit = r.string();
    else r.skip(tag & 7);
  }
  r.leave(end);
  // An enum value this version does not know is read as unknown, as proto3 readers do.
  return { type: METRIC_TYPES[type] ?? 'unknown', name, help, unit };
}
