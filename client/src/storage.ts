/**
 * Where the client keeps its resume token and last seq between connections — and, with
 * sessionStorage, across page reloads, so a reloaded page resumes its session. Any Web Storage
 * (sessionStorage, localStorage) fits.
 */
export interface ResumeStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** MemoryStorage keeps values in memory: the default outside browsers. */
export class MemoryStorage implements ResumeStorage {
  private readonly items = new Map<string, string>();

  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }

  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** The page's sessionStorage when there is a usable one, else a MemoryStorage. */
export function defaultStorage(): ResumeStorage {
  try {
    const s = (globalThis as { sessionStorage?: ResumeStorage }).sessionStorage;
    if (s) {
      s.getItem('huddle.probe'); // throws where storage is blocked
      return s;
    }
  } catch {
    // blocked (privacy settings, sandboxed frame): keep state in memory
  }
  return new MemoryStorage();
}
