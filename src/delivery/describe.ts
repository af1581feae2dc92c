/**
 * What test connection says when a request failed: the classified error in words that point at
 * the fix. Shared by every HTTP sink kind, so a 401 or a refused port reads the same whichever
 * kind of destination it came from.
 */
import type { DeliveryError } from './errors.js';

export function describeForPeople(e: DeliveryError, url: URL): string {
  switch (e.reason) {
    case 'auth':
      return `HTTP ${e.statusCode}: the destination refused the request; check the credentials (auth headers)`;
    case 'not_found':
      return `HTTP 404: check the path; tried ${url}`;
    case 'dns':
      return `DNS failure: ${url.hostname} does not resolve; check the host name`;
    case 'refused':
      return `connection refused by ${url.host}: nothing is listening there; check the host and port`;
    case 'tls':
      return `TLS problem: ${e.message}`;
    case 'timeout':
      return `timeout: ${url.host} did not answer in time; check that it is reachable from the gateway`;
    default:
      return e.message;
  }
}
