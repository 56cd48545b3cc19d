/** A random UUIDv4, also outside secure contexts (plain-http LAN pages have no randomUUID). */
export function uuid() {
    const c = globalThis.crypto;
    if (typeof c?.randomUUID === 'function') {
        try {
            return c.randomUUID();
        }
        catch {
            // not a secure context: fall through
        }
    }
    const b = new Uint8Array(16);
    if (typeof c?.getRandomValues === 'function')
        c.getRandomValues(b);
    else
        for (let i = 0; i < 16; i++)
            b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (n) => n.toString(16).padStart(2, '0')).join('');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
/** The user id in a JWT's `sub`, read (not verified) to key stored state per user. */
export function jwtSubject(token) {
    try {
        const part = token.split('.')[1];
        if (!part)
            return null;
        const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
        const sub = JSON.parse(atob(b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), '='))).sub;
        return typeof sub === 'string' && sub ? sub : null;
    }
    catch {
        return null;
    }
}
