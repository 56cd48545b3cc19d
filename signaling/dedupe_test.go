package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// twiceBroker delivers every publish twice, as Redis does when it runs a PUBLISH that timed out
// on the caller's side and then the retry.
type twiceBroker struct{ signaling.Broker }

func (b twiceBroker) Publish(ctx context.Context, topic string, msg []byte) error {
	if err := b.Broker.Publish(ctx, topic, msg); err != nil {
		return err
	}
	return b.Broker.Publish(ctx, topic, msg)
}

// TestPublishDeliveredOnce: an event that reaches the broker twice (one publish run twice, or
// two publishes with one PublishID) is delivered once per topic; other ids and other topics are
// not affected.
func TestPublishDeliveredOnce(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, &signaling.NodeOptions{Broker: twiceBroker{signaling.NewMemoryBroker()}, HandoverTimeout: time.Second})
	is.NoErr(n.Handle("pubid", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		var in struct {
			Topic string `json:"topic"`
			ID    string `json:"id"`
		}
		if err := e.Bind(&in); err != nil {
			return err
		}
		return n.Publish(ctx, in.Topic, signaling.Envelope{Event: "said", Data: in}, signaling.PublishID(in.ID))
	}))) // the event had no handler yet
	c := signalingtest.Connect(t, n, signaling.User{ID: "a"}, nil)
	for _, topic := range []string{"room:x", "room:y"} {
		c.SendRef("sub", map[string]string{"topic": topic}, topic)
		c.Expect("subscribed", wait)
	}
	c.Send("pub", map[string]string{"topic": "room:x", "text": "hi"})
	c.Expect("said", wait)
	c.ExpectQuiet("said") // a publish the broker ran twice arrives once

	for _, p := range []struct{ topic, id string }{
		{"room:x", "m1"}, {"room:x", "m1"}, // a retry with the same id: once
		{"room:x", "m2"}, // another id
		{"room:y", "m1"}, // the same id on another topic
	} {
		c.Send("pubid", map[string]string{"topic": p.topic, "id": p.id})
	}
	c.Sync(wait)
	is.Equal(len(c.Frames("said")), 3) // m1 on x once, m2 on x, m1 on y
}
