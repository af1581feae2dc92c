/**
 * Token checks for routes. Isolation comes before scope: a token bound to project A asking about
 * project B gets 404 whatever its scope, so project ids cannot be probed.
 *
 * Routes do not call these themselves: each says who may call it in its options,
 * `config: { auth: { scopes, project? } }`, and the hook `secureRoutes` installs checks it before
 * the handler runs (after the body is parsed and validated, as before) and leaves the principal on
 * `req.principal`. A route registered under `secureRoutes` without `config.auth` is refused when
 * the app is built, so a new route cannot forget its check.
 */
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Principal, Scope, Tokens } from '../control/tokens.js';
import { errors } from './errors.js';

/** Who may call a route. */
export interface RouteAuth {
  /**
   * The scopes that may. On a project route an admin token always may (an empty list: only an
   * admin); on a server route only the scopes listed.
   */
  readonly scopes: readonly Scope[];
  /**
   * The route parameter that holds a project id: the project must exist and be visible to the
   * token (404 project_not_found otherwise, whatever the scope) before the scope is checked.
   */
  readonly project?: string;
  /** A token bound to a project passes whatever its scope: the handler answers for that project only. */
  readonly anyProjectToken?: boolean;
  /** Checks the token only when this says so; otherwise the request goes on anonymous (`req.principal` null). */
  readonly when?: (req: FastifyRequest) => boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; 'public' for a route without a token. Required under secureRoutes. */
    auth?: RouteAuth | 'public';
    /** Whether a caller who keeps being refused here has its answers held back (src/server/refusal-backoff.ts). */
    refusalBackoff?: boolean;
  }
  interface FastifyRequest {
    /**
     * The caller, set by the auth hook before the handler on every route with `config.auth`.
     * Null on public routes, and where the route's `when` let the request go on anonymous.
     */
    principal: Principal;
  }
}

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

/** Checks a request against its route's `auth`; returns the principal, or null when none is needed. */
export function checkRoute(tokens: Tokens, projectExists: (pid: string) => boolean, auth: RouteAuth | 'public', req: FastifyRequest): Principal | null {
  if (auth === 'public' || (auth.when !== undefined && !auth.when(req))) return null;
  const p = authenticate(tokens, req);
  if (auth.project !== undefined) {
    const pid = (req.params as Record<string, string | undefined>)[auth.project] ?? '';
    requireProjectScope(p, pid, projectExists(pid), auth.scopes);
  } else if (!(auth.anyProjectToken === true && p.project !== null)) {
    requireScope(p, auth.scopes);
  }
  return p;
}

/**
 * Installs the auth hook on `app` (an encapsulated scope: every route registered in it or its
 * children afterwards). Each route's check runs as its first preHandler, so a route's own
 * preHandlers and its handler only ever see an allowed caller; errors go to the route's
 * errorHandler when it has one (the OTLP receiver's Status form, the Prometheus API's), else the
 * app's.
 */
export function secureRoutes(app: FastifyInstance, tokens: Tokens, projectExists: (pid: string) => boolean): void {
  // Null until the hook runs (the typing says Principal: handlers only run once the hook has set it).
  app.decorateRequest('principal', null as unknown as Principal);
  const check: preHandlerAsyncHookHandler = async (req) => {
    req.principal = checkRoute(tokens, projectExists, req.routeOptions.config.auth!, req) as Principal;
  };
  app.addHook('onRoute', (route) => {
    const where = `${String(route.method)} ${route.url}`;
    const auth = route.config?.auth;
    if (auth === undefined) {
      throw new Error(`route ${where} says nothing about tokens: give it config.auth ({ scopes, project? }, or 'public'); see src/server/README.md`);
    }
    if (auth === 'public') return;
    if (auth.project !== undefined && !route.url.split('/').includes(`:${auth.project}`)) {
      throw new Error(`route ${where}: config.auth.project names :${auth.project}, which is not a parameter of its path`);
    }
    const own = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    if (!own.includes(check)) route.preHandler = [check, ...own];
  });
}
