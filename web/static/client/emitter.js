/**
 * Emitter is a typed EventTarget: each event is a CustomEvent whose `detail` is the event's
 * data, typed by the map M (event name → data). `on` returns a function that unsubscribes, which
 * fits React effects, Angular's DestroyRef and RxJS `new Observable(s => emitter.on(…))`.
 * Being an EventTarget, it also works with `addEventListener` and anything built on it.
 */
export class Emitter extends EventTarget {
    on(type, fn) {
        const handler = (e) => fn(e.detail);
        this.addEventListener(type, handler);
        return () => this.removeEventListener(type, handler);
    }
    /** Listen to the next occurrence of an event only. */
    once(type, fn) {
        const handler = (e) => fn(e.detail);
        this.addEventListener(type, handler, { once: true });
        return () => this.removeEventListener(type, handler);
    }
    /**
     * Resolve with the data of the next event of this type for which `match` is true (every one
     * without it); reject after `timeoutMs` when given.
     */
    next(type, match, timeoutMs) {
        return new Promise((resolve, reject) => {
            let timer;
            const off = this.on(type, (d) => {
                if (match && !match(d))
                    return;
                off();
                clearTimeout(timer);
                resolve(d);
            });
            if (timeoutMs !== undefined) {
                timer = setTimeout(() => {
                    off();
                    reject(new Error(`no ${type} within ${timeoutMs} ms`));
                }, timeoutMs);
            }
        });
    }
    /** Dispatch an event to its listeners. A listener that throws does not stop the others. */
    emit(type, data) {
        this.dispatchEvent(new CustomEvent(type, { detail: data }));
    }
}
