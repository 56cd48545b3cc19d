// Package turnserver is an embedded TURN server (RFC 5766) for Huddle meetings, built on
// github.com/pion/turn. It accepts exactly the time-limited TURN REST credentials that
// signaling.ICEConfig hands out in the `session` event (username "<expiry-unix>:<userId>",
// password base64(HMAC-SHA1(secret, username))) and refuses every other credential: a wrong
// password, an expired one, one minted for another user, one for another realm.
//
// Two peers behind NATs that cannot reach each other directly then meet through the relay:
//
//	srv, err := turnserver.Listen("0.0.0.0:3478", &turnserver.Options{
//		Secret:   secret,                     // the same secret as ICEConfig.TURNSecret
//		PublicIP: net.ParseIP("203.0.113.7"), // what clients dial and relay candidates carry
//	})
//	if err != nil { ... }
//	defer srv.Close()
//	node := signaling.NewNode(&signaling.NodeOptions{
//		ICE: signaling.ICEConfig{URLs: srv.URLs(), TURNSecret: secret},
//	})
//
// The server listens for TURN clients on UDP and TCP at the same port and relays UDP: each
// allocation gets a UDP socket from the relay port range (Options.MinPort–MaxPort). TCP
// allocations (RFC 6062) are not offered; clients that can only use TCP reach the server over
// TCP (turn:host:port?transport=tcp) and still relay UDP to their peers.
//
// Limits: a user holds at most Options.MaxAllocationsPerUser allocations at once (a new one is
// refused with 486 Allocation Quota Reached), and each allocation relays at most
// Options.BytesPerSecond; packets over the budget are dropped and counted in Stats.DroppedBytes.
// Stats reports allocations, relayed bytes and refusals for metrics; the package registers no
// metrics itself.
//
// Pion is quarantined here: nothing else in Huddle's core imports it.
package turnserver
