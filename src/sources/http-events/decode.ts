/**
 * Decodes a POST /v1/events body: one JSON object, a JSON array, or NDJSON. A malformed NDJSON line
 * becomes a per-line rejection instead of failing the whole request.
 */
import type { BatchItem } from '../../ingest/ingest.js';

export class BodyNotJsonError extends Error {}

/** `index` counts the array's elements or the NDJSON lines that are not blank. */
export function decodeEvents(body: string, ndjson: boolean): BatchItem[] {
  if (!ndjson) {
    const whole = tryParse(body);
    if (whole.ok) {
      if (Array.isArray(whole.value)) return whole.value.map((value) => ({ value }));
      if (typeof whole.value === 'object' && whole.value !== null) return [{ value: whole.value }];
      throw new BodyNotJsonError('the body must be a JSON object, a JSON array of objects, or NDJSON (one object per line)');
    }
  }
  const items: BatchItem[] = [];
  let anyParsed = false;
  let start = 0;
  let lineNo = 0;
  while (start <= body.length) {
    let end = body.indexOf('\n', start);
    if (end < 0) end = body.length;
    lineNo++;
    const line = body.slice(start, end).trim();
    start = end + 1;
    if (line.length === 0) continue;
    const parsed = tryParse(line);
    if (parsed.ok) {
      anyParsed = true;
      items.push({ value: parsed.value });
    } else {
      items.push({ parseError: `line ${lineNo}: not valid JSON (${parsed.error}); each line must be one JSON object` });
    }
  }
  if (!ndjson && !anyParsed) {
    throw new BodyNotJsonError('the body is not JSON: send a JSON object, a JSON array of objects, or NDJSON with Content-Type application/x-ndjson');
  }
  return items;
}

function tryParse(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
