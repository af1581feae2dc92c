/**
 * The control plane's one error type. Services in src/control throw ControlError with a stable
 * `code` and a message meant for people; they know nothing of HTTP. The server maps each code to
 * a status (src/server/errors.ts); the CLI, an SDK or any other caller can rely on the code alone.
 */

/** Every code the control plane throws. Adding one here makes the server's table name its status. */
export type ControlErrorCode =
  /** The input is not acceptable: a field is missing, malformed or out of range. */
  | 'validation_error'
  /** The thing asked for does not exist (in this project). */
  | 'not_found'
  /** A project with the given id already exists. */
  | 'project_exists'
  /** An integration endpoint is not a public address, or does not resolve to one. */
  | 'egress_forbidden';

export class ControlError extends Error {
  override readonly name = 'ControlError';

  constructor(
    readonly code: ControlErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const controlErrors = {
  validation: (message: string, details?: unknown) => new ControlError('validation_error', message, details),
  notFound: (message: string) => new ControlError('not_found', message),
  projectExists: (id: string) => new ControlError('project_exists', `a project with id ${id} already exists`),
  egressForbidden: (message: string) => new ControlError('egress_forbidden', message),
};
