/** Delivered message ids a room remembers, so that one message is never delivered twice. */
const RECENT_KEPT = 256;
/** The page size of a re-sync's `get_history` (the server's maximum). */
export const RESYNC_PAGE = 100;
/** A ring of the last message ids delivered in a room. */
class RecentIds {
    ring = [];
    next = 0;
    set = new Set();
    /** Records id; false when it was there already. */
    add(id) {
        if (this.set.has(id))
            return false;
        if (this.ring.length < RECENT_KEPT)
            this.ring.push(id);
        else {
            this.set.delete(this.ring[this.next]);
            this.ring[this.next] = id;
            this.next = (this.next + 1) % RECENT_KEPT;
        }
        this.set.add(id);
        return true;
    }
}
/**
 * ChatTracker remembers, for every room the client saw a message of, the newest message id
 * (ids are UUIDv7, so they sort by time), and which ids it delivered last. After a refused
 * resume it re-syncs each such room with `get_history {after}` page by page (PROTOCOL.md §4),
 * holding back the live messages of a room meanwhile, so that a room's messages are delivered
 * in order and each exactly once. It does no I/O: the client asks for the pages.
 */
export class ChatTracker {
    limit;
    last = new Map();
    recent = new Map();
    running = new Map();
    constructor(limit) {
        this.limit = limit;
    }
    /** The rooms being re-synced. */
    get syncing() {
        return new Set(this.running.keys());
    }
    /** Whether room is being re-synced. */
    isSyncing(roomId) {
        return this.running.has(roomId);
    }
    /**
     * A live `message` arrived: true to deliver it now. A duplicate is dropped; during its room's
     * re-sync it is held and comes out of finish().
     */
    onMessage(m) {
        if (!m || typeof m.id !== 'string' || typeof m.roomId !== 'string')
            return true;
        const rs = this.running.get(m.roomId);
        if (rs) {
            rs.held.push(m);
            return false;
        }
        return this.delivered(m);
    }
    /** A `history` reply the application asked for: its newest message moves the cursor. */
    onHistory(h) {
        if (!h || typeof h.roomId !== 'string' || !Array.isArray(h.messages))
            return;
        for (const m of h.messages)
            if (typeof m?.id === 'string')
                this.advance(h.roomId, m.id);
    }
    /** The user left the room: forget it. */
    onRoomLeft(roomId) {
        this.last.delete(roomId);
        this.recent.delete(roomId);
        this.running.delete(roomId);
    }
    /**
     * A fresh session came: start re-syncing every room with a known last message. Returns each
     * room's cursor; rooms already re-syncing continue from where they were.
     */
    start() {
        for (const [roomId, after] of this.last) {
            if (!this.running.has(roomId))
                this.running.set(roomId, { after, seen: new Set(), held: [], fetched: 0 });
        }
        return [...this.running].map(([roomId, rs]) => ({ roomId, after: rs.after }));
    }
    /** One page of a room's re-sync arrived. */
    page(roomId, h) {
        const rs = this.running.get(roomId);
        if (!rs)
            return { deliver: [] }; // a late answer to a finished re-sync
        const deliver = [];
        for (const m of h?.messages ?? []) {
            if (typeof m?.id !== 'string')
                continue;
            rs.after = m.id;
            if (rs.seen.has(m.id))
                continue;
            rs.seen.add(m.id);
            if (this.delivered(m)) {
                rs.fetched++;
                deliver.push(m);
            }
        }
        if (h?.hasMore && rs.fetched < this.limit)
            return { deliver, next: rs.after };
        const done = this.finish(roomId, !h?.hasMore);
        return { deliver: [...deliver, ...done.deliver], ...(done.report ? { report: done.report } : {}) };
    }
    /** The server refused a page (code): the room's re-sync ends incomplete. */
    fail(roomId, code) {
        return this.finish(roomId, false, code);
    }
    finish(roomId, complete, code) {
        const rs = this.running.get(roomId);
        if (!rs)
            return { deliver: [] };
        this.running.delete(roomId);
        const deliver = rs.held.filter((m) => !rs.seen.has(m.id) && this.delivered(m));
        const report = { roomId, messages: rs.fetched, complete };
        if (code)
            report.error = code;
        return { deliver, report };
    }
    // Records that m is delivered; false when it was already.
    delivered(m) {
        let rec = this.recent.get(m.roomId);
        if (!rec) {
            rec = new RecentIds();
            this.recent.set(m.roomId, rec);
        }
        if (!rec.add(m.id))
            return false;
        this.advance(m.roomId, m.id);
        return true;
    }
    advance(roomId, id) {
        const cur = this.last.get(roomId);
        if (cur === undefined || id > cur)
            this.last.set(roomId, id);
    }
}
