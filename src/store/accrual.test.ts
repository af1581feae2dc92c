import { afterEach, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { openSqlite } from './db.js';
import type { Database } from './schema.js';
import { AccrualStore } from './accrual.js';
import { Aggregator, DEFAULT_CATALOG_OPTIONS } from '../aggregate/project.js';
import { EVENT_TYPES } from '../ingest/events.js';
import { CATALOG_INDEX as I } from '../catalog/catalog.js';
import type { CounterSeries } from '../aggregate/series.js';

const MIN = 60_000;
const T0 = Date.now() - 3_600_000;
let db: Kysely<Database>;
afterEach(async () => db?.destroy());

async function setup(ids: string[] = ['p-aaaaaaaa']) {
  db = await openSqlite(':memory:');
  for (const id of ids) await db.insertInto('projects').values({ id, name: id, created_at: new Date().toISOString() }).execute();
}

function aggregator(ids: string[] = ['p-aaaaaaaa']): Aggregator {
  const agg = new Aggregator(DEFAULT_CATALOG_OPTIONS, 0);
  for (const id of ids) agg.ensure(id);
  return agg;
}

const heartbeat = (agg: Aggregator, pid: string, minute: number, state = 'running') =>
  EVENT_TYPES.instance.apply({ fleet_name: 'f', instance_name: 'i', state, price_per_hour: 1.5, ...(minute === 0 ? { backend: 'aws' } : {}) }, agg.get(pid)!, T0 + minute * MIN, Date.now());

const turn = () => new Promise((r) => setImmediate(r));

function cost(agg: Aggregator, pid: string): number[] {
  return [...(agg.get(pid)!.families[I.instance_cost].series.values() as Iterable<CounterSeries>)].map((s) => s.value);
}

describe('AccrualStore', () => {
  it('writes the books after the events that changed them and reads them back into a new aggregator', async () => {
    await setup();
    const agg = aggregator();
    const { store } = await AccrualStore.open(db, agg);
    for (let m = 0; m <= 10; m++) heartbeat(agg, 'p-aaaaaaaa', m);
    await turn();
    await store.close();
    const rows = await db.selectFrom('accrual_entities').selectAll().execute();
    expect(rows).toMatchObject([{ project_id: 'p-aaaaaaaa', kind: 'instance', entity: '["f","i"]', last_ms: T0 + 10 * MIN, state: 'running', price_per_hour: 1.5, labels: '{"backend":"aws"}' }]);
    const sums = await db.selectFrom('accrual_sums').select(['family', 'total']).orderBy('family').execute();
    expect(sums).toEqual([{ family: 'instance_cost', total: 10 * MIN * 1.5 }, { family: 'instance_running_seconds', total: 10 * MIN }]);

    const again = aggregator();
    const { report } = await AccrualStore.open(db, again);
    expect(report).toEqual({ entities: 1, sums: 2, dropped: 0 });
    expect(cost(again, 'p-aaaaaaaa')).toEqual([0.25]);
    heartbeat(again, 'p-aaaaaaaa', 10); // sent again after the restart: nothing more
    heartbeat(again, 'p-aaaaaaaa', 15);
    // The backend the first heartbeat gave holds across the restart: still one series.
    expect(cost(again, 'p-aaaaaaaa')).toEqual([0.375]);
  });

  it('writes nothing it has not been told of, and everything at close', async () => {
    await setup();
    const agg = aggregator();
    const { store } = await AccrualStore.open(db, agg);
    heartbeat(agg, 'p-aaaaaaaa', 0);
    heartbeat(agg, 'p-aaaaaaaa', 1);
    // Closed before the next turn of the event loop: close writes it.
    await store.close();
    expect(await db.selectFrom('accrual_sums').select('total').where('family', '=', 'instance_cost').execute()).toEqual([{ total: MIN * 1.5 }]);
  });

  it("deletes a deleted project's rows with it, and skips a project gone before its write", async () => {
    await setup(['p-aaaaaaaa', 'p-bbbbbbbb']);
    const agg = aggregator(['p-aaaaaaaa', 'p-bbbbbbbb']);
    const { store } = await AccrualStore.open(db, agg);
    heartbeat(agg, 'p-aaaaaaaa', 0);
    heartbeat(agg, 'p-bbbbbbbb', 0);
    await turn();
    await store.close();
    expect(await db.selectFrom('accrual_entities').select('project_id').orderBy('project_id').execute()).toHaveLength(2);
    await db.deleteFrom('projects').where('id', '=', 'p-aaaaaaaa').execute();
    expect(await db.selectFrom('accrual_entities').select('project_id').execute()).toEqual([{ project_id: 'p-bbbbbbbb' }]);
    expect(await db.selectFrom('accrual_sums').select('project_id').distinct().execute()).toEqual([{ project_id: 'p-bbbbbbbb' }]);

    const agg2 = aggregator(['p-aaaaaaaa', 'p-bbbbbbbb']);
    const { store: s2 } = await AccrualStore.open(db, agg2);
    heartbeat(agg2, 'p-aaaaaaaa', 1);
    heartbeat(agg2, 'p-bbbbbbbb', 1);
    agg2.delete('p-aaaaaaaa');
    await s2.close();
    expect(await db.selectFrom('accrual_entities').select(['project_id', 'last_ms']).execute()).toEqual([{ project_id: 'p-bbbbbbbb', last_ms: T0 + MIN }]);
  });

  it('drops at start-up the entities not heard from for a day', async () => {
    await setup();
    await db.insertInto('accrual_entities').values({
      project_id: 'p-aaaaaaaa', kind: 'job', entity: '["r","j"]', last_ms: 0, state: 'running', price_per_hour: null, labels: '{}',
      updated_at: new Date(Date.now() - 25 * 3_600_000).toISOString(),
    }).execute();
    const { report } = await AccrualStore.open(db, aggregator());
    expect(report).toEqual({ entities: 0, sums: 0, dropped: 1 });
  });
});
