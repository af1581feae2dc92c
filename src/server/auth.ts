/**
 * Token checks for routes. Isolation comes before scope: a token bound to project A asking about
 * project B gets 404 whatever its scope, so project ids cannot be probed.
 */
import type { FastifyRequest } from 'fastify';
import type { Principal, Scope, Tokens } from '../control/tokens.js';
import { errors } from './errors.js';

export function authenticate(tokens: Tokens, req: FastifyRequest): Principal {
  const header = req.headers.authorization;
  if (header === undefined || header === '') throw errors.missingToken();
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null) throw errors.invalidToken();
  const outcome = tokens.authenticate(match[1]);
  if (outcome === 'invalid') throw errors.invalidToken();
  if (outcome === 'revoked') throw errors.tokenRevoked();
  return outcome;
}

/** Server-level check (no project in the path). */
export function requireScope(p: Principal, scopes: readonly Scope[]): void {
  if (!scopes.includes(p.scope)) throw errors.insufficientScope([...scopes], p.scope);
}

/**
 * Project-level check: the project must be visible to the token (404 otherwise), then the scope
 * must allow the action (403). `exists` tells whether the project exists at all.
 */
export function requireProjectScope(p: Principal, pid: string, exists: boolean, scopes: readonly Scope[]): void {
  if (p.project !== null && p.project !== pid) throw errors.projectNotFound(pid);
  if (!exists) throw errors.projectNotFound(pid);
  if (p.scope === 'admin') return;
  requireScope(p, scopes);
}
