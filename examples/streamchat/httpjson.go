package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBodyBytes bounds every request body; a bigger one is 413.
const maxBodyBytes = 64 << 10

// apiError is the original backend's (NestJS) error body: {"message", "error"?, "statusCode"}.
type apiError struct {
	Message    string `json:"message"`
	Error      string `json:"error,omitempty"`
	StatusCode int    `json:"statusCode"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the Nest error shape. 401 is exactly {"message":"Unauthorized",
// "statusCode":401}, as the original sent it.
func writeError(w http.ResponseWriter, code int, msg string) {
	e := apiError{Message: msg, Error: http.StatusText(code), StatusCode: code}
	if code == http.StatusUnauthorized {
		e = apiError{Message: "Unauthorized", StatusCode: code}
	}
	writeJSON(w, code, e)
}

// decodeBody reads a JSON object into v: a body over maxBodyBytes is 413, anything that is not
// one JSON object of the right field types is 400. It reports whether the handler may go on.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes))
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read the request body")
		return false
	}
	if t := strings.TrimSpace(string(body)); !strings.HasPrefix(t, "{") {
		writeError(w, http.StatusBadRequest, "the request body must be a JSON object")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON: "+jsonProblem(err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "malformed JSON: data after the object")
		return false
	}
	return true
}

// jsonProblem describes a decoding error without echoing the input back.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return "invalid"
}
