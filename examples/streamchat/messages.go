package main

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
)

// History limits of GET /api/message/:roomId. The app loads a room's history once, unpaged, so
// the default is generous; ?before=<messageId>&limit= pages further back.
const (
	defaultHistory = 500
	maxHistory     = 1000
)

// history opens the room (the caller becomes a member) and answers its newest messages, oldest
// first, as the original's Message[] with `sender`.
func (s *server) history(w http.ResponseWriter, r *http.Request, p principal) {
	limit := defaultHistory
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHistory {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be 1..%d", maxHistory))
			return
		}
		limit = n
	}
	room, ok := s.open(w, r, p, r.PathValue("roomId"))
	if !ok {
		return
	}
	msgs, _, err := s.b.chat.History(r.Context(), room.ID, r.URL.Query().Get("before"), limit)
	if errors.Is(err, chat.ErrNotFound) {
		writeError(w, http.StatusNotFound, "Message not found")
		return
	}
	if err != nil {
		s.failed(w, r, err)
		return
	}
	if msgs == nil {
		msgs = []chat.Message{}
	}
	writeJSON(w, http.StatusOK, msgs)
}

type createMessageReq struct {
	RoomID  string `json:"roomId"`
	Content string `json:"content"`
}

// createMessage stores a message from the caller, who becomes a member, and, unlike the
// original, delivers it to the room's sessions like a `message` sent on the WebSocket.
func (s *server) createMessage(w http.ResponseWriter, r *http.Request, p principal) {
	var in createMessageReq
	if !decodeBody(w, r, &in) {
		return
	}
	switch {
	case in.RoomID == "":
		writeError(w, http.StatusBadRequest, "roomId is required")
		return
	case in.Content == "":
		writeError(w, http.StatusBadRequest, "content is required")
		return
	case len(in.Content) > s.cfg.maxMessageBytes:
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("content is longer than %d bytes", s.cfg.maxMessageBytes))
		return
	case !utf8.ValidString(in.Content):
		writeError(w, http.StatusBadRequest, "content is not valid UTF-8")
		return
	}
	room, ok := s.open(w, r, p, in.RoomID)
	if !ok {
		return
	}
	id, err := uuid.NewV7()
	if err != nil {
		s.failed(w, r, err)
		return
	}
	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	m := chat.Message{
		ID: id.String(), RoomID: room.ID, Content: in.Content,
		Sender:    signaling.User{ID: p.user.ID, Username: p.user.Username},
		CreatedAt: now, UpdatedAt: now,
	}
	stored, _, err := s.b.chat.Append(r.Context(), m)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	if err := s.node.Publish(r.Context(), chat.RoomTopic(room.ID), signaling.Envelope{Event: "message", Data: stored}); err != nil {
		s.log.Info("message stored but not delivered", "message", stored.ID, "err", err)
	}
	writeJSON(w, http.StatusCreated, stored)
}
