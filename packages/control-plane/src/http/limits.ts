// Bounds on what one request may send, each with the reason for its number.

/** Largest request body: the biggest real one (an instance with its users and parameters) is a few KiB. */
export const REQUEST_BODY_BYTES_MAX = 1024 * 1024;

/** How much of a too-large body is read and dropped so the client gets its 413; past it the connection is cut. */
export const REQUEST_BODY_DRAIN_BYTES_MAX = 16 * 1024 * 1024;

/** What Node's HTTP parser accepts as request line plus headers: its own default. */
export const HEADER_BYTES_MAX = 16 * 1024;

/** Longest `X-Request-Id` taken from a client; longer ones are replaced by a generated ID. */
export const REQUEST_ID_LENGTH_MAX = 128;

/** How long close() lets requests in flight finish before it drops their connections. */
export const CLOSE_GRACE_MS = 2_000;
