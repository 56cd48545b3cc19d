package meeting_test

import (
	"context"
	"testing"
	"time"

	"github.com/huddle-go/huddle/meeting"
	"github.com/matryer/is"
)

// killNode makes node m of c die as far as meetings know: its service stops without cleanup,
// then the sessions p held end unseen, so the store keeps them bound as connected.
func killNode(t *testing.T, c *cluster, m *member, ps ...*peer) {
	t.Helper()
	is := is.New(t)
	m.svc.Close()
	e := c.env(m)
	for _, p := range ps {
		e.hangUp(p)
		is.True(len(e.stored("r1").Participant(p.user.ID).Sessions) > 0) // the store still lists the session as connected
	}
}

func TestUserOfflineParticipant(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := newCluster(t, nil)
	ea, eb := c.env(c.a), c.env(c.b)
	host, obs := eb.connect(alice), eb.connect(carol)
	bo := ea.connect(bob) // bob on node a
	start(t, host, "r1")
	join(t, bo, "r1")
	join(t, obs, "r1")
	flush(t, host, obs)
	killNode(t, c, c.a, bo)

	timers := c.clock.Pending()
	is.NoErr(c.b.svc.UserOffline(ctx, "dave"))                                     // a user of no room
	is.NoErr(c.b.svc.UserOffline(ctx, "erin"))                                     // a member who does not participate
	is.NoErr(c.b.svc.UserOffline(ctx, "carol"))                                    // a participant whose session b holds
	is.Equal(eb.stored("r1").Participant("carol").Sessions, []string{obs.session}) // is left alone: b knows it is alive
	is.Equal(c.clock.Pending(), timers)                                            // and nothing is armed

	droppedAt := c.clock.Now().UnixMilli()
	is.NoErr(c.b.svc.UserOffline(ctx, "bob")) // presence on b reports bob offline
	p := eb.stored("r1").Participant("bob")
	is.Equal(len(p.Sessions), 0)                      // bob's dead session is unbound
	is.Equal(len(p.Dropped), 0)                       // for good
	is.Equal(p.DroppedAt, droppedAt)                  // and his grace starts
	is.Equal(eb.stored("r1").HostAwaySince, int64(0)) // not the host's
	c.clock.Advance(time.Second)
	is.NoErr(c.b.svc.UserOffline(ctx, "bob"))                         // again
	is.Equal(eb.stored("r1").Participant("bob").DroppedAt, droppedAt) // changes nothing: the grace runs on

	c.clock.Advance(meeting.DefaultParticipantGrace - time.Second - time.Millisecond)
	none(t, host, "meeting_user_left") // within the grace nobody sees bob go
	c.clock.Advance(time.Millisecond)
	var ul userData
	for _, p := range []*peer{host, obs} {
		bindTo(t, p.Expect("meeting_user_left", wait), &ul)
		is.Equal(ul, userData{User: bob, RoomID: "r1"}) // past the grace the others see bob leave
	}
	is.Equal(ids(wireOf(eb.stored("r1").Participants)), []string{"alice", "carol"}) // removed
	c.clock.Advance(meeting.DefaultHostGrace + meeting.DefaultEmptyTimeout)
	none(t, host, "meeting_user_left") // once
	none(t, host, "meeting_ended")     // and the meeting goes on
}

func TestUserOfflineHost(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := newCluster(t, nil)
	ea, eb := c.env(c.a), c.env(c.b)
	host := ea.connect(alice) // the host on node a
	bo := eb.connect(bob)
	obs := eb.connect(carol) // a member who does not join
	start(t, host, "r1")
	join(t, bo, "r1")
	flush(t, bo, obs)
	killNode(t, c, c.a, host)

	awaySince := c.clock.Now().UnixMilli()
	is.NoErr(c.b.svc.UserOffline(ctx, "alice")) // presence on b reports alice offline
	m := eb.stored("r1")
	is.Equal(len(m.Participant("alice").Sessions), 0)     // her dead session is unbound
	is.Equal(m.Participant("alice").DroppedAt, awaySince) // her grace starts
	is.Equal(m.HostAwaySince, awaySince)                  // and the host grace
	is.Equal(c.shared.holder("r1"), "node-b")             // run by b

	c.clock.Advance(meeting.DefaultParticipantGrace)
	var ul userData
	bindTo(t, bo.Expect("meeting_user_left", wait), &ul)
	is.Equal(ul, userData{User: alice, RoomID: "r1"}) // bob sees alice leave after her grace
	c.clock.Advance(meeting.DefaultHostGrace - meeting.DefaultParticipantGrace - time.Millisecond)
	none(t, bo, "meeting_ended") // within the host grace the meeting goes on
	c.clock.Advance(time.Millisecond)
	for _, p := range []*peer{bo, obs} {
		var en endedData
		bindTo(t, p.Expect("meeting_ended", wait), &en)
		is.Equal(en, endedData{RoomID: "r1", Reason: meeting.ReasonHostLeft})                      // past it the host policy (end) ends the meeting
		is.Equal(bindWire(t, p.Expect("meeting_invitation", wait)).Status, meeting.StatusInactive) // and revokes the invitation
	}
	is.True(eb.gone("r1")) // deleted
	c.clock.Advance(time.Minute)
	none(t, bo, "meeting_ended") // once
}

func TestUserOfflineLeaseOfDeadNode(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	const ttl = time.Minute
	c := newCluster(t, func(node string, o *meeting.Options) {
		o.LeaseTTL = ttl
		if node == "node-a" {
			o.Store = dyingStore{c0(o)}
		}
	})
	ea, eb := c.env(c.a), c.env(c.b)
	host, er := ea.connect(alice), ea.connect(erin)
	bo := eb.connect(bob)
	start(t, host, "r1")
	join(t, er, "r1")
	join(t, bo, "r1")
	flush(t, bo)
	ea.drop(er)                               // erin's connection drops on a: a arms her grace
	is.Equal(c.shared.holder("r1"), "node-a") // and owns the room's timers
	killNode(t, c, c.a, host)                 // then a dies without releasing its lease

	is.NoErr(c.b.svc.UserOffline(ctx, "alice"))
	is.True(eb.stored("r1").HostAwaySince != 0) // the host grace is stored
	is.Equal(c.shared.holder("r1"), "node-a")   // b cannot arm it yet: a's lease has to lapse
	c.clock.Advance(meeting.DefaultHostGrace)
	none(t, bo, "meeting_ended") // nobody ends the meeting on time: a is dead, b waits for a's lease
	c.clock.Advance(ttl)         // a's lease lapses; b's next sweep takes it and fires the overdue graces
	var en endedData
	bindTo(t, bo.Expect("meeting_ended", wait), &en)
	is.Equal(en.Reason, meeting.ReasonHostLeft) // the host grace ends the meeting
	c.clock.Advance(time.Minute)
	none(t, bo, "meeting_ended")        // once
	is.True(eb.gone("r1"))              // deleted
	is.Equal(c.shared.holder("r1"), "") // and b let the lease go
}

// TestUserOfflineKnock: a knock from a session of a node that died is withdrawn when its user
// goes offline, and the host is told.
func TestUserOfflineKnock(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := newCluster(t, nil)
	ea, eb := c.env(c.a), c.env(c.b)
	host := eb.connect(alice)
	ca := ea.connect(carol) // carol on node a
	start(t, host, "r1")
	lock(t, host, true)
	knock(t, ca)
	expectKnock(t, host, carol)
	c.a.svc.Close()                          // a dies as far as meetings know
	ea.hangUp(ca)                            // and carol's session ends unseen
	is.Equal(len(eb.stored("r1").Knocks), 1) // the store still has her knock

	is.NoErr(c.b.svc.UserOffline(ctx, "carol")) // presence on b reports carol offline
	is.Equal(len(eb.stored("r1").Knocks), 0)    // the dead knock is withdrawn
	expectResolved(t, host, carol, meeting.KnockWithdrawn)
	is.NoErr(c.b.svc.UserOffline(ctx, "carol")) // again: nothing to do
	none(t, host, "knock_resolved")             // once
}
