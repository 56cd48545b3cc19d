package signaling

import (
	"errors"
	"fmt"
)

// Client-facing error codes of PROTOCOL.md §8, sent in the `error` event.
const (
	CodeBadRequest        = "bad_request"
	CodeUnknownEvent      = "unknown_event"
	CodeUnauthorized      = "unauthorized"
	CodeForbidden         = "forbidden"
	CodeNotFound          = "not_found"
	CodeConflict          = "conflict"
	CodeMeetingFull       = "meeting_full"
	CodeTargetUnavailable = "target_unavailable"
	CodeTooLarge          = "too_large"
	CodeRateLimited       = "rate_limited"
	CodeUnavailable       = "unavailable"
	CodeInternal          = "internal"
)

// Error is an error a client may see. Returned from a Handler, it is sent to the session as
// `error {code, message, event, ref}` and the session goes on. Any other error a handler returns
// reaches the client as CodeInternal, with the detail kept in the logs.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Event and Ref are filled in by the Node from the envelope that caused the error.
	Event string `json:"event,omitempty"`
	Ref   string `json:"ref,omitempty"`
	// RetryAfterMs, on `unavailable` from an overloaded node, is how long the client should
	// wait before sending the event again (PROTOCOL.md §8).
	RetryAfterMs int64 `json:"retryAfterMs,omitempty"`
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return "signaling: " + e.Code + ": " + e.Message }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &signaling.Error{Code: signaling.CodeForbidden}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrorCode returns the client-facing code of err: its *Error's code, or CodeInternal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, ErrUnavailable) {
		return CodeUnavailable
	}
	return CodeInternal
}

// ErrUnavailable marks a failure of a store or broker backend (Redis down, a timeout). A handler
// error that wraps it reaches the client as CodeUnavailable: "nothing was half-applied, try again".
// Stores wrap their backend errors with it.
var ErrUnavailable = errors.New("signaling: backend unavailable")

// ErrHandled is returned by Node.Handle for an event that has a handler already: each event has
// one handler, so two services (or a service and the application) claiming the same event fail
// at start instead of one silently replacing the other.
var ErrHandled = errors.New("signaling: event already handled")

// ErrClosed means one thing: the value it came from was closed by its owner and does no more
// work. Serve returns it after (or during) Node.Shutdown (the connection is closed with 1012);
// a Broker returns it after its Close (redisbroker). Check it with errors.Is.
var ErrClosed = errors.New("signaling: closed")
