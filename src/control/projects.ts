/** Projects (tenants): the control-plane records, kept in step with the aggregator's registries. */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Aggregator } from '../aggregate/project.js';
import { controlErrors as fail } from './errors.js';
import { newProjectId, PROJECT_ID } from './ids.js';

export interface Project {
  id: string;
  name: string;
  created_at: string;
}

export class Projects {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly aggregator: Aggregator,
  ) {}

  /** Loads existing projects into the aggregator at start-up. */
  async load(): Promise<void> {
    for (const p of await this.list()) this.aggregator.ensure(p.id);
  }

  async create(input: { name: string; id?: string }): Promise<Project> {
    const name = input.name.trim();
    if (name.length === 0 || name.length > 200) throw fail.validation('name: must be 1 to 200 characters');
    if (input.id !== undefined && !PROJECT_ID.test(input.id)) {
      throw fail.validation(`id: must be "p-" followed by 8 lowercase letters or digits, like "p-a1b2c3d4", got ${JSON.stringify(input.id)}`);
    }
    const project: Project = { id: input.id ?? newProjectId(), name, created_at: new Date().toISOString() };
    try {
      await this.db.insertInto('projects').values(project).execute();
    } catch (err) {
      if (/UNIQUE|duplicate key/i.test((err as Error).message)) throw fail.projectExists(project.id);
      throw err;
    }
    this.aggregator.ensure(project.id);
    return project;
  }

  async list(): Promise<Project[]> {
    return this.db.selectFrom('projects').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  async get(id: string): Promise<Project | undefined> {
    return this.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async delete(id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('projects').where('id', '=', id).executeTakeFirst();
    this.aggregator.delete(id);
    return Number(res.numDeletedRows) > 0;
  }
}
