// InstanceError: the typed errors of the instance API (HTTP status, stable code, what to do); the routes turn them into the platform's error body.

/** Codes of {@link InstanceError}. */
export type InstanceErrorCode =
  | 'not_found'
  | 'instance_busy'
  | 'invalid_state'
  | 'name_taken'
  | 'unknown_flavor'
  | 'same_flavor'
  | 'invalid_name'
  | 'unknown_parameter'
  | 'invalid_parameter'
  | 'invalid_request'
  | 'no_capacity'
  | 'is_replica'
  | 'not_a_replica'
  | 'has_replicas'
  | 'too_many_replicas';

/**
 * An instance request that cannot be done, with its HTTP status and a stable code.
 *
 * @example
 * throw new InstanceError(409, 'instance_busy', 'instance orders-db is busy with resize (workflow ins_….resize.…); wait until it finishes');
 */
export class InstanceError extends Error {
  override readonly name = 'InstanceError';
  readonly status: number;
  readonly code: InstanceErrorCode;
  readonly details: unknown;

  constructor(status: number, code: InstanceErrorCode, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}
