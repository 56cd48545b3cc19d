import type { HistoryEvent, Message } from './protocol.js';

/** How one room's re-sync went: the data of the client's `resynced` event. */
export interface ResyncReport {
  roomId: string;
  /** How many missed messages the re-sync delivered as `message` events. */
  messages: number;
  /**
   * false when it stopped early: the limit was reached, or the server refused `get_history`
   * (`error` says with which code: `not_found` when the last message seen is no longer in the
   * room's history, `forbidden` when the user is no longer a member).
   */
  complete: boolean;
  error?: string;
}

/** Delivered message ids a room remembers, so that one message is never delivered twice. */
const RECENT_KEPT = 256;

/** The page size of a re-sync's `get_history` (the server's maximum). */
export const RESYNC_PAGE = 100;

/** A ring of the last message ids delivered in a room. */
class RecentIds {
  private readonly ring: string[] = [];
  private next = 0;
  private readonly set = new Set<string>();

  /** Records id; false when it was there already. */
  add(id: string): boolean {
    if (this.set.has(id)) return false;
    if (this.ring.length < RECENT_KEPT) this.ring.push(id);
    else {
      this.set.delete(this.ring[this.next]!);
      this.ring[this.next] = id;
      this.next = (this.next + 1) % RECENT_KEPT;
    }
    this.set.add(id);
    return true;
  }
}

interface RoomResync {
  after: string; // the cursor of the next page
  seen: Set<string>; // ids delivered by this re-sync
  held: Message[]; // live messages that arrived meanwhile
  fetched: number;
}

/** What to do with the answer to a re-sync page. */
export interface PageOutcome {
  /** Messages to deliver now, in order. */
  deliver: Message[];
  /** The cursor of the next page to ask for, or undefined when the room is done. */
  next?: string;
  /** Set when the room is done. */
  report?: ResyncReport;
}

/**
 * ChatTracker remembers, for every room the client saw a message of, the newest message id
 * (ids are UUIDv7, so they sort by time), and which ids it delivered last. After a refused
 * resume it re-syncs each such room with `get_history {after}` page by page (PROTOCOL.md §4),
 * holding back the live messages of a room meanwhile, so that a room's messages are delivered
 * in order and each exactly once. It does no I/O: the client asks for the pages.
 */
export class ChatTracker {
  private readonly last = new Map<string, string>();
  private readonly recent = new Map<string, RecentIds>();
  private readonly running = new Map<string, RoomResync>();

  constructor(private readonly limit: number) {}

  /** The rooms being re-synced. */
  get syncing(): ReadonlySet<string> {
    return new Set(this.running.keys());
  }

  /** Whether room is being re-synced. */
  isSyncing(roomId: string): boolean {
    return this.running.has(roomId);
  }

  /**
   * A live `message` arrived: true to deliver it now. A duplicate is dropped; during its room's
   * re-sync it is held and comes out of finish().
   */
  onMessage(m: Message): boolean {
    if (!m || typeof m.id !== 'string' || typeof m.roomId !== 'string') return true;
    const rs = this.running.get(m.roomId);
    if (rs) {
      rs.held.push(m);
      return false;
    }
    return this.delivered(m);
  }

  /** A `history` reply the application asked for: its newest message moves the cursor. */
  onHistory(h: HistoryEvent): void {
    if (!h || typeof h.roomId !== 'string' || !Array.isArray(h.messages)) return;
    for (const m of h.messages) if (typeof m?.id === 'string') this.advance(h.roomId, m.id);
  }

  /** The user left the room: forget it. */
  onRoomLeft(roomId: string): void {
    this.last.delete(roomId);
    this.recent.delete(roomId);
    this.running.delete(roomId);
  }

  /**
   * A fresh session came: start re-syncing every room with a known last message. Returns each
   * room's cursor; rooms already re-syncing continue from where they were.
   */
  start(): { roomId: string; after: string }[] {
    for (const [roomId, after] of this.last) {
      if (!this.running.has(roomId)) this.running.set(roomId, { after, seen: new Set(), held: [], fetched: 0 });
    }
    return [...this.running].map(([roomId, rs]) => ({ roomId, after: rs.after }));
  }

  /** One page of a room's re-sync arrived. */
  page(roomId: string, h: HistoryEvent): PageOutcome {
    const rs = this.running.get(roomId);
    if (!rs) return { deliver: [] }; // a late answer to a finished re-sync
    const deliver: Message[] = [];
    for (const m of h?.messages ?? []) {
      if (typeof m?.id !== 'string') continue;
      rs.after = m.id;
      if (rs.seen.has(m.id)) continue;
      rs.seen.add(m.id);
      if (this.delivered(m)) {
        rs.fetched++;
        deliver.push(m);
      }
    }
    if (h?.hasMore && rs.fetched < this.limit) return { deliver, next: rs.after };
    const done = this.finish(roomId, !h?.hasMore);
    return { deliver: [...deliver, ...done.deliver], ...(done.report ? { report: done.report } : {}) };
  }

  /** The server refused a page (code): the room's re-sync ends incomplete. */
  fail(roomId: string, code: string): PageOutcome {
    return this.finish(roomId, false, code);
  }

  private finish(roomId: string, complete: boolean, code?: string): PageOutcome {
    const rs = this.running.get(roomId);
    if (!rs) return { deliver: [] };
    this.running.delete(roomId);
    const deliver = rs.held.filter((m) => !rs.seen.has(m.id) && this.delivered(m));
    const report: ResyncReport = { roomId, messages: rs.fetched, complete };
    if (code) report.error = code;
    return { deliver, report };
  }

  // Records that m is delivered; false when it was already.
  private delivered(m: Message): boolean {
    let rec = this.recent.get(m.roomId);
    if (!rec) {
      rec = new RecentIds();
      this.recent.set(m.roomId, rec);
    }
    if (!rec.add(m.id)) return false;
    this.advance(m.roomId, m.id);
    return true;
  }

  private advance(roomId: string, id: string): void {
    const cur = this.last.get(roomId);
    if (cur === undefined || id > cur) this.last.set(roomId, id);
  }
}
