/** MemoryStorage keeps values in memory: the default outside browsers. */
export class MemoryStorage {
    items = new Map();
    getItem(key) {
        return this.items.get(key) ?? null;
    }
    setItem(key, value) {
        this.items.set(key, value);
    }
    removeItem(key) {
        this.items.delete(key);
    }
}
/** The page's sessionStorage when there is a usable one, else a MemoryStorage. */
export function defaultStorage() {
    try {
        const s = globalThis.sessionStorage;
        if (s) {
            s.getItem('huddle.probe'); // throws where storage is blocked
            return s;
        }
    }
    catch {
        // blocked (privacy settings, sandboxed frame): keep state in memory
    }
    return new MemoryStorage();
}
