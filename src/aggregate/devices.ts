/**
 * `meterway_devices_active`: distinct devices seen within the gauge staleness time, counted
 * without a series per device. One map per project holds each (series, device) pair's last
 * sighting, in the order of sightings (a device seen again moves to the end), so what has aged
 * out is always at the front and pruning costs only what it removes.
 *
 * Bounded: at most MAX_TRACKED_DEVICES sightings per project (about 150 bytes each, so some
 * 15 MB at worst); past that the least recently seen device is forgotten first, and the gauges
 * count at most that many devices in all.
 */
import type { GaugeSeries } from './series.js';

export const MAX_TRACKED_DEVICES = 100_000;

/** The devices counted under one `devices_active` series. */
export interface ActiveSet {
  readonly key: string;
  count: number;
  /** The gauge the count is shown in; looked up again when the registry swept or dropped it. */
  gauge: GaugeSeries | undefined;
}

interface Sighting {
  /** Wall-clock time the device was last seen under this series. */
  at: number;
  readonly set: ActiveSet;
}

export class ActiveDevices {
  /** `seriesKey\0deviceId` → its last sighting, oldest first. */
  private readonly sightings = new Map<string, Sighting>();
  private readonly sets = new Map<string, ActiveSet>();

  constructor(private readonly maxTracked = MAX_TRACKED_DEVICES) {}

  get tracked(): number {
    return this.sightings.size;
  }

  /**
   * Records a sighting of `deviceId` under the series `key` at `nowMs`, prunes what is older than
   * `cutoffMs`, and returns the series' count of active devices with its set (whose gauge the
   * caller keeps).
   */
  seen(key: string, deviceId: string, nowMs: number, cutoffMs: number): ActiveSet {
    let set = this.sets.get(key);
    if (set === undefined) this.sets.set(key, (set = { key, count: 0, gauge: undefined }));
    // Unambiguous: every series key has the same number of NULs, and a device id has none.
    const id = `${key}\u0000${deviceId}`;
    const s = this.sightings.get(id);
    if (s !== undefined) {
      this.sightings.delete(id);
      s.at = nowMs;
      this.sightings.set(id, s);
    } else {
      if (this.sightings.size >= this.maxTracked) this.evictOldest();
      this.sightings.set(id, { at: nowMs, set });
      set.count++;
    }
    this.prune(cutoffMs);
    return set;
  }

  /** Forgets sightings older than `cutoffMs`, updating their series' counts. */
  prune(cutoffMs: number): void {
    for (const [id, s] of this.sightings) {
      if (s.at >= cutoffMs) break;
      this.sightings.delete(id);
      this.drop(s.set);
    }
  }

  private evictOldest(): void {
    for (const [id, s] of this.sightings) {
      this.sightings.delete(id);
      this.drop(s.set);
      return;
    }
  }

  private drop(set: ActiveSet): void {
    set.count--;
    // The value only: a gauge's freshness is its newest sighting's, which is not this one. Once
    // none is left, the gauge was last set over the staleness time ago and is no longer exposed.
    if (set.gauge !== undefined) set.gauge.value = set.count;
    if (set.count === 0 && this.sets.get(set.key) === set) this.sets.delete(set.key);
  }
}
