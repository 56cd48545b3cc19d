package turnserver_test

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/turnserver"
	"github.com/pion/turn/v4"
)

// The TURN server and the signaling node share one secret: the credentials a client gets in
// its `session` event are the ones the server accepts.
func ExampleListen() {
	const secret = "change-me"
	srv, err := turnserver.Listen("127.0.0.1:0", &turnserver.Options{Secret: secret})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ice := signaling.ICEConfig{URLs: srv.URLs(), TURNSecret: secret, TURNTTL: time.Hour}
	// What signaling.NodeOptions{ICE: ice} hands alice in her `session` event:
	s := ice.Servers("alice", time.Now())[0]

	conn, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer conn.Close()
	client, _ := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: srv.Addr().String(),
		Conn:           conn,
		Username:       s.Username,
		Password:       s.Credential,
	})
	defer client.Close()
	_ = client.Listen()
	relay, err := client.Allocate()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer relay.Close()
	fmt.Println(len(s.URLs), "URLs; user", strings.SplitN(s.Username, ":", 2)[1], "got a relay:", relay.LocalAddr() != nil)
	fmt.Println("allocations:", srv.Stats().Allocations)
	// Output:
	// 2 URLs; user alice got a relay: true
	// allocations: 1
}
