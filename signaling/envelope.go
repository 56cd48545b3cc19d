package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// User is who a session belongs to, as the Authenticator established it. It is the User object of
// every payload: {"id","username"}.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// Envelope is one event on the wire: {"event","data","ref"} in the JSON codec.
//
// For inbound envelopes Data holds the raw encoded value (a json.RawMessage) until a handler
// binds it with Bind. For outbound envelopes Data is any value the codec can encode; a
// json.RawMessage is written as it is.
type Envelope struct {
	Event string
	Data  any
	// Ref is the client's correlation string; it is echoed on replies and errors.
	Ref string
}

// Raw returns the undecoded data of an inbound envelope, or nil.
func (e Envelope) Raw() json.RawMessage {
	switch d := e.Data.(type) {
	case json.RawMessage:
		return d
	case []byte:
		return d
	}
	return nil
}

// Bind decodes the envelope's data into v, which must be a pointer. A missing data value, a
// value that is not of v's shape or a field of the wrong type is a *Error with CodeBadRequest,
// ready to be returned from a Handler.
func (e Envelope) Bind(v any) error {
	raw := e.Raw()
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return Errorf(CodeBadRequest, "%s: data is required", e.Event)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Errorf(CodeBadRequest, "%s: field %q must be %s", e.Event, te.Field, jsonKind(te.Type.Kind().String()))
		}
		return Errorf(CodeBadRequest, "%s: data: %v", e.Event, err)
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return fmt.Sprintf("of type %s", k)
}
