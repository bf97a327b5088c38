// Every error class of @strata/agent: a stable `code` and a message that says what to do.

/** Codes of {@link AgentError}. */
export type AgentErrorCode =
  | 'STRATA_AGENT_INVALID_CONFIG'
  | 'STRATA_AGENT_UNKNOWN_INSTANCE'
  | 'STRATA_AGENT_NO_FREE_PORT'
  /** The node was started without a backup repository. */
  | 'STRATA_AGENT_NO_BACKUPS'
  /** The operation needs the instance running (a backup, a seal). */
  | 'STRATA_AGENT_INSTANCE_STOPPED'
  /** A job's input is malformed (a control plane of another version, or a bug). */
  | 'STRATA_AGENT_INVALID_INPUT';

/**
 * An error of the node agent.
 *
 * @example
 * try { await startAgent({ database, nodeId: 'Node 1', rootDir }); }
 * catch (error) { if (error instanceof AgentError && error.code === 'STRATA_AGENT_INVALID_CONFIG') console.error(error.message); }
 */
export class AgentError extends Error {
  override readonly name = 'AgentError';
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
