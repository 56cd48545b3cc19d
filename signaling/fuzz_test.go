package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzCodec: any frame either fails to decode or decodes to an envelope that both JSON codecs
// encode as valid JSON and that decodes back to the same event, data and ref. Any string as an
// event name either encodes as valid JSON that decodes to that name, or is refused.
func FuzzCodec(f *testing.F) {
	for _, s := range []string{
		`{"event":"ping"}`,
		`{"event":"message","data":{"roomId":"r","content":"hi"},"ref":"1"}`,
		`{"event":"message","payload":{"roomId":"r"},"ref":7}`,
		`{"event":"x","data":null,"ref":null}`,
		"{\"event\":\"\x7f\"}", // strconv.AppendQuote wrote this name back as "\x7f", not JSON
		`{"event":"\u0000\u2028\"\\"}`,
		`{"event":"a","ref":{"a":[1,2]}}`,
		`[]`, `{"event":""}`, `{"event":1}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	codecs := []Codec{JSON, JSONPayload}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, c := range codecs {
			if e, err := c.Decode(frame); err == nil {
				roundTrip(t, c, e)
			}
			name := string(frame)
			out, err := c.Encode(Envelope{Event: name})
			if err != nil {
				continue // refused: fine, as long as nothing invalid was written
			}
			if !json.Valid(out) {
				t.Fatalf("%s: event name %q encoded as invalid JSON %q", c.Name(), name, out)
			}
			back, err := c.Decode(out)
			if name == "" {
				if !errors.Is(err, errNoEvent) {
					t.Fatalf("%s: empty name: decode %q: %v", c.Name(), out, err)
				}
				continue
			}
			if err != nil || back.Event != name {
				t.Fatalf("%s: event name %q: encoded %q, decoded %q, %v", c.Name(), name, out, back.Event, err)
			}
		}
	})
}

func roundTrip(t *testing.T, c Codec, e Envelope) {
	t.Helper()
	for _, enc := range []Codec{JSON, JSONPayload} {
		out, err := enc.Encode(e)
		if err != nil {
			t.Fatalf("%s: encode of decoded %+v: %v", enc.Name(), e, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%s: decoded %+v encoded as invalid JSON %q", enc.Name(), e, out)
		}
		back, err := c.Decode(out)
		if err != nil {
			t.Fatalf("%s→%s: decode of %q: %v", enc.Name(), c.Name(), out, err)
		}
		if back.Event != e.Event || back.Ref != e.Ref || !sameJSON(back.Raw(), e.Raw()) {
			t.Fatalf("%s→%s: %+v became %+v through %q", enc.Name(), c.Name(), e, back, out)
		}
	}
}

// sameJSON compares two raw values, treating absent and null alike (Encode writes null).
func sameJSON(a, b json.RawMessage) bool {
	norm := func(r json.RawMessage) []byte {
		r = bytes.TrimSpace(r)
		if len(r) == 0 {
			return []byte("null")
		}
		return r
	}
	return bytes.Equal(norm(a), norm(b))
}

// FuzzBind: binding any data into the field kinds the services' payloads use (strings,
// optional strings, booleans and numbers, raw JSON, nested objects) never panics, and every
// failure is a bad_request *Error a handler can return as it is.
func FuzzBind(f *testing.F) {
	for _, s := range []string{
		`{"roomId":"r","content":"hi","clientMsgId":"c1"}`,
		`{"roomId":"r","limit":5,"before":"m"}`,
		`{"roomId":1}`, `{"isTyping":"yes"}`, `{"limit":1e400}`, `{"limit":-1}`,
		`{"type":"offer","targetId":"b","sdp":"v=0","candidate":{"candidate":"x"}}`,
		`null`, ``, `[]`, `"x"`, `{"a":`, `{"status":null}`,
	} {
		f.Add([]byte(s))
	}
	type payload struct {
		RoomID    string          `json:"roomId"`
		Content   string          `json:"content"`
		Status    *string         `json:"status"`
		IsTyping  *bool           `json:"isTyping"`
		Limit     *int            `json:"limit"`
		Candidate json.RawMessage `json:"candidate"`
		Sender    User            `json:"sender"`
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := Envelope{Event: "fuzz", Data: json.RawMessage(data)}
		var p payload
		err := e.Bind(&p)
		if err == nil {
			if !json.Valid(data) {
				t.Fatalf("bound invalid JSON %q", data)
			}
			return
		}
		var se *Error
		if !errors.As(err, &se) || se.Code != CodeBadRequest {
			t.Fatalf("bind %q: %v is not a bad_request *Error", data, err)
		}
		if !strings.HasPrefix(se.Message, "fuzz: ") {
			t.Fatalf("bind %q: message %q does not name the event", data, se.Message)
		}
	})
}

// FuzzResumeToken: the parser accepts exactly the tokens issued for that user, whatever it is
// given, and never another user's.
func FuzzResumeToken(f *testing.F) {
	secret := []byte("fuzz secret")
	f.Add("0123abcd", "alice", "")
	f.Add("0123abcd", "alice", "0123abcd.AAAA")
	f.Add("s", "", ".")
	f.Add("", "bob", "..")
	f.Add("a.b", "alice", "a.b.c")
	f.Fuzz(func(t *testing.T, sid, user, token string) {
		if got, ok := parseResumeToken(secret, token, user); ok {
			if token != resumeToken(secret, got, user) {
				t.Fatalf("accepted %q for %q, not the token issued for session %q", token, user, got)
			}
			if _, ok := parseResumeToken(secret, token, user+"x"); ok {
				t.Fatalf("token %q of %q accepted for %q", token, user, user+"x")
			}
		}
		if sid == "" || strings.Contains(sid, ".") {
			return // session ids are hex; the issuer never makes these
		}
		tok := resumeToken(secret, sid, user)
		if got, ok := parseResumeToken(secret, tok, user); !ok || got != sid {
			t.Fatalf("issued token %q for (%q, %q) parsed as (%q, %v)", tok, sid, user, got, ok)
		}
		if _, ok := parseResumeToken([]byte("other secret"), tok, user); ok {
			t.Fatalf("token %q accepted under another secret", tok)
		}
	})
}
