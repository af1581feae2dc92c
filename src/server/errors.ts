/**
 * The REST API's one error type. Routes throw ApiError with a stable `code`; the server turns it
 * into `{"error": {code, message, details}}` with the status given here. The control plane throws
 * ControlError, which has no status: CONTROL_ERROR_STATUS below is the one place that gives it one.
 */
import { ControlError, type ControlErrorCode } from '../control/errors.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }

  toBody(): { error: { code: string; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

export const errors = {
  missingToken: () =>
    new ApiError(401, 'missing_token', 'this endpoint needs a token: send the header "Authorization: Bearer <token>"'),
  invalidToken: () =>
    new ApiError(401, 'invalid_token', 'the token is not valid: check that it was copied whole, or create a new one'),
  tokenRevoked: () => new ApiError(401, 'token_revoked', 'the token was revoked: create a new one'),
  insufficientScope: (needed: string[], have: string) =>
    new ApiError(403, 'insufficient_scope', `this needs a token with scope ${needed.join(' or ')}; this token's scope is ${have}`),
  projectNotFound: (pid: string) =>
    new ApiError(404, 'project_not_found', `no project ${JSON.stringify(pid)} is visible to this token`),
  notFound: (what: string) => new ApiError(404, 'not_found', what),
  validation: (message: string, details?: unknown) => new ApiError(400, 'validation_error', message, details),
  conflict: (message: string) => new ApiError(409, 'conflict', message),
};

/** The HTTP status of each control-plane error code; the response's code is the control plane's. */
export const CONTROL_ERROR_STATUS: Readonly<Record<ControlErrorCode, number>> = {
  validation_error: 400,
  egress_forbidden: 400,
  not_found: 404,
  project_exists: 409,
};

export function fromControlError(err: ControlError): ApiError {
  return new ApiError(CONTROL_ERROR_STATUS[err.code], err.code, err.message, err.details);
}

/** An ApiError as it is, a ControlError as the API answers it; undefined for any other error. */
export function asApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof ControlError) return fromControlError(err);
  return undefined;
}
