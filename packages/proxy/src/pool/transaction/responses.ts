// What a client waits for, in order: one entry per message sent to the server that the server
// answers (Parse → ParseComplete, Execute → rows and CommandComplete, Sync → ReadyForQuery…),
// and the proxy's own answers (a ParseComplete for a statement the server already has, a refusal)
// in their place in that order. The server answers strictly in order, so matching is a queue.

/** One expected answer. */
export interface Expectation {
  /** The message answered: P B D E C (extended), S (Sync), Q or F (answered up to ReadyForQuery), or '' for the proxy's own. */
  readonly kind: 'P' | 'B' | 'D' | 'E' | 'C' | 'S' | 'Q' | 'F' | '';
  /** Describe of a statement: ParameterDescription comes before RowDescription/NoData. */
  readonly describesStatement?: boolean;
  /** The proxy sent the message on its own: its success answer is not the client's. */
  readonly swallow?: boolean;
  /** A Parse of this server-side statement name: remembered by the pool once it succeeds. */
  readonly prepares?: string;
  /** Undoes what the proxy assumed when it sent the message (a statement it marked prepared). */
  readonly undo?: () => void;
  /** The proxy's own answer, sent when every answer before it went out. */
  readonly answer?: () => Buffer;
}

/** Message types of the server's answers. */
export const enum Answer {
  ParseComplete = 0x31,
  BindComplete = 0x32,
  CloseComplete = 0x33,
  ParameterDescription = 0x74,
  RowDescription = 0x54,
  NoData = 0x6e,
  CommandComplete = 0x43,
  EmptyQuery = 0x49,
  PortalSuspended = 0x73,
  ReadyForQuery = 0x5a,
  Error = 0x45,
  Notice = 0x4e,
  ParameterStatus = 0x53,
  Notification = 0x41,
}

/** Whether `type` ends the answer to `expected` (false: more of it follows). */
export function ends(expected: Expectation, type: number): boolean {
  switch (expected.kind) {
    case 'P':
      return type === Answer.ParseComplete;
    case 'B':
      return type === Answer.BindComplete;
    case 'C':
      return type === Answer.CloseComplete;
    case 'D':
      // A statement's Describe answers ParameterDescription first, then one of these.
      return type === Answer.RowDescription || type === Answer.NoData;
    case 'E':
      return type === Answer.CommandComplete || type === Answer.EmptyQuery || type === Answer.PortalSuspended;
    case 'S':
    case 'Q':
    case 'F':
      return type === Answer.ReadyForQuery;
    default:
      return false;
  }
}

/** Messages the server may send at any time, unrelated to the queue. */
export function isAsync(type: number): boolean {
  return type === Answer.Notice || type === Answer.ParameterStatus || type === Answer.Notification;
}
