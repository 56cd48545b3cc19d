/** A listener of events whose data is T. */
export type Listener<T> = (data: T) => void;

/**
 * Emitter is a typed EventTarget: each event is a CustomEvent whose `detail` is the event's
 * data, typed by the map M (event name → data). `on` returns a function that unsubscribes, which
 * fits React effects, Angular's DestroyRef and RxJS `new Observable(s => emitter.on(…))`.
 * Being an EventTarget, it also works with `addEventListener` and anything built on it.
 */
export class Emitter<M extends object> extends EventTarget {
  /** Listen to an event; returns a function that stops listening. */
  on<K extends keyof M & string>(type: K, fn: Listener<M[K]>): () => void;
  /** Listen to an event this emitter has no type for (a server extension). */
  on<N extends string>(type: N extends keyof M ? never : N, fn: Listener<unknown>): () => void;
  on(type: string, fn: Listener<any>): () => void {
    const handler = (e: Event) => fn((e as CustomEvent).detail);
    this.addEventListener(type, handler);
    return () => this.removeEventListener(type, handler);
  }

  /** Listen to the next occurrence of an event only. */
  once<K extends keyof M & string>(type: K, fn: Listener<M[K]>): () => void {
    const handler = (e: Event) => fn((e as CustomEvent).detail);
    this.addEventListener(type, handler, { once: true });
    return () => this.removeEventListener(type, handler);
  }

  /**
   * Resolve with the data of the next event of this type for which `match` is true (every one
   * without it); reject after `timeoutMs` when given.
   */
  next<K extends keyof M & string>(type: K, match?: (data: M[K]) => boolean, timeoutMs?: number): Promise<M[K]> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const off = this.on(type, (d: M[K]) => {
        if (match && !match(d)) return;
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
  protected emit<K extends keyof M & string>(type: K, data: M[K]): void {
    this.dispatchEvent(new CustomEvent(type, { detail: data }));
  }
}
