// The workflows an engine registered, by name.
import { DuplicateWorkflowError, UnknownWorkflowError } from '../errors.js';
import type { WorkflowFunction } from '../interfaces.js';

/** A registered workflow: its unique name and its function. */
export interface Registration {
  readonly name: string;
  readonly fn: WorkflowFunction<unknown[], unknown>;
}

/** The workflows registered with one engine (filled before launch, read-only after). */
export class Registry {
  readonly #byName = new Map<string, Registration>();

  /** Registers `fn` under `name`; a name registered twice is a {@link DuplicateWorkflowError}. */
  add(name: string, fn: WorkflowFunction<unknown[], unknown>): void {
    if (this.#byName.has(name)) throw new DuplicateWorkflowError(name);
    this.#byName.set(name, { name, fn });
  }

  get(name: string): Registration | undefined {
    return this.#byName.get(name);
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** The registration of `name`, or an {@link UnknownWorkflowError} listing the registered names. */
  require(name: string): Registration {
    const registration = this.#byName.get(name);
    if (!registration) throw new UnknownWorkflowError(name, this.names());
    return registration;
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }
}
