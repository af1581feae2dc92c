/**
 * Every stored series in memory: by id, and per project an index of its series (postings.ts).
 * Shared by the write path (new series), reads (the project's index), retention and project
 * deletion (series gone), and recovery on open.
 */
import type { Labels } from '../core/labels.js';
import { ProjectIndex } from './postings.js';
import type { MemSeries } from './series.js';

export class Catalog {
  readonly projects = new Map<string, ProjectIndex>();
  readonly byId = new Map<number, MemSeries>();

  add(s: MemSeries): void {
    let idx = this.projects.get(s.project);
    if (idx === undefined) this.projects.set(s.project, (idx = new ProjectIndex(s.project)));
    idx.add(s);
    this.byId.set(s.id, s);
  }

  /** A series left without data: marked deleted, out of the maps, its project gone with its last series. */
  remove(s: MemSeries): void {
    s.deleted = true;
    this.byId.delete(s.id);
    const idx = this.projects.get(s.project)!;
    idx.remove(s);
    if (idx.size === 0) this.projects.delete(s.project);
  }
}

/** The label object of a canonical `[name, value, ...]` list (frozen). */
export function pairsToLabels(pairs: readonly string[]): Labels {
  const l: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) l[pairs[i]] = pairs[i + 1];
  return Object.freeze(l);
}
