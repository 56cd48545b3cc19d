/**
 * HuddleError is an `error` event of the server (PROTOCOL.md §8) or a local failure, as an
 * Error a request's promise rejects with.
 */
export class HuddleError extends Error {
    /** The server's code (`forbidden`, `not_found`, …) or a LocalErrorCode. */
    code;
    /** The event the error answers, when the server named it. */
    event;
    /** The ref of the request it answers. */
    ref;
    constructor(code, message, extra = {}) {
        super(message || code);
        this.name = 'HuddleError';
        this.code = code;
        this.event = extra.event;
        this.ref = extra.ref;
    }
}
