package sqlchat

import "sync"

// memberCache remembers IsMember answers for a Store that is the only writer of its database
// (Options.CacheMembership): the chat Service asks it for every message. Join and Leave
// through the Store forget the pair; an answer read while a Join or Leave was under way is not
// kept (gen), so the cache never holds a stale answer. Bounded: when full it starts over.
type memberCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[memberKey]bool
}

type memberKey struct{ room, user string }

// maxCachedMembers bounds a memberCache.
const maxCachedMembers = 100_000

func newMemberCache() *memberCache { return &memberCache{m: map[memberKey]bool{}} }

// get returns the cached answer, if any, and the generation to pass to put.
func (c *memberCache) get(room, user string) (member, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	member, ok = c.m[memberKey{room, user}]
	return member, ok, c.gen
}

// put keeps an answer read at generation gen, unless membership changed since.
func (c *memberCache) put(room, user string, member bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= maxCachedMembers {
		clear(c.m)
	}
	c.m[memberKey{room, user}] = member
}

// changed forgets the pair; call it before and after writing it.
func (c *memberCache) changed(room, user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, memberKey{room, user})
}
