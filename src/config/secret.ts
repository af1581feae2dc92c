import { inspect } from 'node:util';

/**
 * A secret value. Every way of turning it into text (string conversion, JSON, util.inspect, pino)
 * gives `***`, so a secret cannot reach a log line, a response or an error message by accident;
 * `reveal()` is the one deliberate way out.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '***';
  }
  toJSON(): string {
    return '***';
  }
  [inspect.custom](): string {
    return '***';
  }
}
