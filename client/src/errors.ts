import type { ServerErrorCode } from './protocol.js';

/**
 * Codes of failures the client itself reports: `timeout` (no reply in time), `disconnected`
 * (the connection was lost and the request cannot be retried), `closed` (the client was
 * closed), `cancelled` (superseded, e.g. a meeting left while joining).
 */
export type LocalErrorCode = 'timeout' | 'disconnected' | 'closed' | 'cancelled';

export type ErrorCode = ServerErrorCode | LocalErrorCode;

/**
 * HuddleError is an `error` event of the server (PROTOCOL.md §8) or a local failure, as an
 * Error a request's promise rejects with.
 */
export class HuddleError extends Error {
  /** The server's code (`forbidden`, `not_found`, …) or a LocalErrorCode. */
  readonly code: ErrorCode;
  /** The event the error answers, when the server named it. */
  readonly event: string | undefined;
  /** The ref of the request it answers. */
  readonly ref: string | undefined;

  constructor(code: ErrorCode, message?: string, extra: { event?: string | undefined; ref?: string | undefined } = {}) {
    super(message || code);
    this.name = 'HuddleError';
    this.code = code;
    this.event = extra.event;
    this.ref = extra.ref;
  }
}
