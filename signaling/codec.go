package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Codec turns envelopes into frames and back. Implementations are safe for concurrent use.
type Codec interface {
	// Name is the codec's name and the suffix of its WebSocket subprotocol
	// ("huddle.v1." + Name()).
	Name() string
	// Decode parses one inbound frame. Envelope.Data stays raw until a handler binds it.
	Decode(frame []byte) (Envelope, error)
	// Encode writes one outbound frame.
	Encode(e Envelope) ([]byte, error)
}

// SeqStamper is implemented by codecs that can put a per-session `seq` in front of a body that
// was encoded once for many sessions, without encoding it again. The frame sent is prefix
// followed by tail; tail must be a subslice of body (never a copy).
type SeqStamper interface {
	StampSeq(dst []byte, seq uint64, body []byte) (prefix, tail []byte)
}

// The built-in codecs.
var (
	// JSON writes {"event","data","ref"?} and is the default.
	JSON Codec = jsonCodec{name: "json", key: "data"}
	// JSONPayload writes {"event","payload","ref"?}, the dialect the original web client reads.
	JSONPayload Codec = jsonCodec{name: "json-payload", key: "payload"}
)

var (
	codecsMu sync.RWMutex
	codecs   = map[string]Codec{"json": JSON, "json-payload": JSONPayload}
)

// RegisterCodec makes a codec selectable by name (subprotocol "huddle.v1.<name>" or ?codec=).
func RegisterCodec(c Codec) {
	codecsMu.Lock()
	defer codecsMu.Unlock()
	codecs[c.Name()] = c
}

// CodecByName returns the registered codec with that name.
func CodecByName(name string) (Codec, bool) {
	codecsMu.RLock()
	defer codecsMu.RUnlock()
	c, ok := codecs[name]
	return c, ok
}

// SubprotocolPrefix is the prefix of every Huddle WebSocket subprotocol.
const SubprotocolPrefix = "huddle.v1."

type jsonCodec struct {
	name string
	key  string // "data" or "payload"
}

func (c jsonCodec) Name() string { return c.name }

// inbound is the shape of a client frame; both keys are accepted on input.
type inbound struct {
	Event   *string         `json:"event"`
	Data    json.RawMessage `json:"data"`
	Payload json.RawMessage `json:"payload"`
	Ref     json.RawMessage `json:"ref"`
}

var errNoEvent = errors.New("no event")

func (c jsonCodec) Decode(frame []byte) (Envelope, error) {
	var in inbound
	if err := json.Unmarshal(frame, &in); err != nil {
		return Envelope{}, fmt.Errorf("signaling: decode: not a JSON object: %w", err)
	}
	var e Envelope
	if len(in.Ref) > 0 && !bytes.Equal(in.Ref, []byte("null")) {
		var ref string
		if err := json.Unmarshal(in.Ref, &ref); err != nil {
			// A number is accepted and kept as its text, so that the client can still correlate.
			// Invalid UTF-8 in it becomes U+FFFD byte by byte, as encoding it will write it, so
			// the ref echoed is the ref kept.
			e.Ref = string([]rune(string(in.Ref)))
		} else {
			e.Ref = ref
		}
	}
	if in.Event == nil || *in.Event == "" {
		return e, fmt.Errorf("signaling: decode: %w", errNoEvent)
	}
	e.Event = *in.Event
	raw := in.Data
	if len(raw) == 0 {
		raw = in.Payload
	}
	e.Data = raw
	return e, nil
}

func (c jsonCodec) Encode(e Envelope) ([]byte, error) {
	if !utf8.ValidString(e.Event) {
		return nil, fmt.Errorf("signaling: encode: event name %q is not valid UTF-8", e.Event)
	}
	buf := make([]byte, 0, 64)
	buf = append(buf, `{"event":`...)
	buf = appendJSONString(buf, e.Event)
	buf = append(buf, ',', '"')
	buf = append(buf, c.key...)
	buf = append(buf, '"', ':')
	switch d := e.Data.(type) {
	case nil:
		buf = append(buf, "null"...)
	case json.RawMessage:
		if len(d) == 0 {
			buf = append(buf, "null"...)
		} else {
			buf = append(buf, d...)
		}
	default:
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("signaling: encode %s: %w", e.Event, err)
		}
		buf = append(buf, b...)
	}
	if e.Ref != "" {
		buf = append(buf, `,"ref":`...)
		b, _ := json.Marshal(e.Ref)
		buf = append(buf, b...)
	}
	buf = append(buf, '}')
	return buf, nil
}

// StampSeq writes `{"seq":N,` as prefix and returns body without its opening brace as tail.
func (c jsonCodec) StampSeq(dst []byte, seq uint64, body []byte) (prefix, tail []byte) {
	dst = append(dst[:0], `{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ',')
	return dst, body[1:]
}
