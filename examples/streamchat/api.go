package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/examples/streamchat/accounts"
	"github.com/huddle-go/huddle/signaling"
	"golang.org/x/crypto/bcrypt"
)

// Limits of the account and room fields.
const (
	maxUsernameBytes = 64
	minPasswordBytes = 8
	maxPasswordBytes = 72 // bcrypt's limit
	maxRoomNameRunes = 100
	maxRoomUsers     = 100
)

// Room types. A group room is listed to everyone and joined by opening it; a direct room is
// listed to, and opened by, only the members it was created with.
const (
	roomGroup  = "group"
	roomDirect = "direct"
)

// routes mounts the original backend's /api routes.
func (s *server) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/auth/register", s.limited(s.register))
	mux.HandleFunc("POST /api/auth/login", s.limited(s.login))
	mux.HandleFunc("POST /api/auth/refresh", s.limited(s.refresh))
	mux.HandleFunc("POST /api/auth/logout", s.authed(s.logout))
	mux.HandleFunc("GET /api/auth/userDetails", s.authed(s.userDetails))
	mux.HandleFunc("DELETE /api/user/{id}", s.authed(s.deleteUser))
	mux.HandleFunc("GET /api/room/all", s.authed(s.listRooms))
	mux.HandleFunc("GET /api/room/{id}", s.authed(s.getRoom))
	mux.HandleFunc("POST /api/room/create", s.authed(s.createRoom))
	mux.HandleFunc("GET /api/message/{roomId}", s.authed(s.history))
	mux.HandleFunc("POST /api/message/create", s.authed(s.createMessage))
	// Like Nest: any other /api route is a JSON 404, whatever the method.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path))
	})
}

// failed answers an unexpected error: 503 for a database that does not answer, else 500, with
// the detail in the log only.
func (s *server) failed(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	if errors.Is(err, signaling.ErrUnavailable) {
		writeError(w, http.StatusServiceUnavailable, "Service unavailable; nothing was changed, try again")
		return
	}
	writeError(w, http.StatusInternalServerError, "Internal server error")
}

// authed requires a valid access token of an existing user.
func (s *server) authed(h func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.tokens.verify(r.Context(), bearer(r))
		if errors.Is(err, errUnauthorized) {
			writeError(w, http.StatusUnauthorized, "")
			return
		}
		if err != nil {
			s.failed(w, r, err)
			return
		}
		h(w, r, p)
	}
}

// limited applies the per-address budget of the public auth routes (password guessing).
func (s *server) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.limiter.allow(r) {
			writeError(w, http.StatusTooManyRequests, "too many attempts; try again later")
			return
		}
		h(w, r)
	}
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func checkCredentials(c credentials) string {
	switch {
	case c.Username == "" || strings.TrimSpace(c.Username) != c.Username:
		return "username is required, without leading or trailing spaces"
	case len(c.Username) > maxUsernameBytes || !utf8.ValidString(c.Username):
		return fmt.Sprintf("username must be at most %d bytes of UTF-8", maxUsernameBytes)
	case strings.IndexFunc(c.Username, unicode.IsControl) >= 0:
		return "username must not contain control characters"
	case len(c.Password) < minPasswordBytes || len(c.Password) > maxPasswordBytes:
		return fmt.Sprintf("password must be %d to %d bytes", minPasswordBytes, maxPasswordBytes)
	}
	return ""
}

func (s *server) register(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if !decodeBody(w, r, &in) {
		return
	}
	if msg := checkCredentials(in); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.cfg.bcryptCost)
	if err != nil {
		s.failed(w, r, fmt.Errorf("bcrypt: %w", err))
		return
	}
	now := s.clock.Now()
	u := accounts.User{ID: uuid.NewString(), Username: in.Username, CreatedAt: now, UpdatedAt: now}
	err = s.b.accounts.CreateUser(r.Context(), u, string(hash))
	if errors.Is(err, accounts.ErrExists) {
		writeError(w, http.StatusConflict, "User already exists")
		return
	}
	if err != nil {
		s.failed(w, r, err)
		return
	}
	p, err := s.tokens.signIn(r.Context(), u)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	s.log.Info("user registered", "user", u.ID)
	writeJSON(w, http.StatusCreated, p)
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if !decodeBody(w, r, &in) {
		return
	}
	if len(in.Password) > maxPasswordBytes || len(in.Username) > maxUsernameBytes {
		writeError(w, http.StatusUnauthorized, "")
		return
	}
	u, hash, err := s.b.accounts.UserByName(r.Context(), in.Username)
	if errors.Is(err, accounts.ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(in.Password)) // same time as a known user
		writeError(w, http.StatusUnauthorized, "")
		return
	}
	if err != nil {
		s.failed(w, r, err)
		return
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(in.Password)) != nil {
		writeError(w, http.StatusUnauthorized, "")
		return
	}
	p, err := s.tokens.signIn(r.Context(), u)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *server) refresh(w http.ResponseWriter, r *http.Request) {
	p, err := s.tokens.rotate(r.Context(), r.Header.Get("x-refresh-token"))
	switch {
	case errors.Is(err, accounts.ErrTokenReused):
		s.log.Info("refresh token reused: its sign-in is revoked")
		writeError(w, http.StatusUnauthorized, "")
	case errors.Is(err, errBadRefresh):
		writeError(w, http.StatusUnauthorized, "")
	case err != nil:
		s.failed(w, r, err)
	default:
		writeJSON(w, http.StatusOK, p)
	}
}

func (s *server) logout(w http.ResponseWriter, r *http.Request, p principal) {
	if err := s.b.accounts.RevokeRefresh(r.Context(), p.user.ID); err != nil {
		s.failed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "ok"})
}

// userDetails answers the token's payload {sub, username, iat, exp}, as the original did.
func (s *server) userDetails(w http.ResponseWriter, r *http.Request, p principal) {
	writeJSON(w, http.StatusOK, map[string]any{
		"sub":      p.user.ID,
		"username": p.user.Username,
		"iat":      p.claims.IssuedAt.Unix(),
		"exp":      p.claims.ExpiresAt.Unix(),
	})
}

// deleteUser deletes the caller's own account (another id is 403): its memberships, its tokens
// (every access token of it is refused from now on, as its user is gone), and its live sockets
// on this node. Its messages stay in their rooms' history.
func (s *server) deleteUser(w http.ResponseWriter, r *http.Request, p principal) {
	if r.PathValue("id") != p.user.ID {
		writeError(w, http.StatusForbidden, "Forbidden resource")
		return
	}
	// Memberships first: a failure then leaves an account that can retry, never a deleted
	// user still listed in rooms.
	ctx := r.Context()
	rooms, err := s.b.chat.Rooms(ctx, p.user.ID)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	for _, id := range rooms {
		if err := s.b.chat.Leave(ctx, id, p.user.ID); err != nil {
			s.failed(w, r, err)
			return
		}
	}
	if err := s.b.accounts.DeleteUser(ctx, p.user.ID); err != nil {
		s.failed(w, r, err)
		return
	}
	for _, sess := range s.node.LocalSessions(p.user.ID) {
		sess.Close(signaling.StatusPolicyViolation, "account deleted")
	}
	s.log.Info("user deleted", "user", p.user.ID)
	writeJSON(w, http.StatusOK, map[string]string{"message": "ok"})
}

// roomJSON is a room as the app reads it; users only in GET /api/room/:id.
type roomJSON struct {
	ID    string           `json:"id"`
	Name  string           `json:"name"`
	Type  string           `json:"type"`
	Users []signaling.User `json:"users,omitempty"`
}

// listRooms answers the sidebar: every group room, and the caller's direct rooms.
func (s *server) listRooms(w http.ResponseWriter, r *http.Request, p principal) {
	rooms, err := s.b.accounts.Rooms(r.Context())
	if err != nil {
		s.failed(w, r, err)
		return
	}
	mine, err := s.b.chat.Rooms(r.Context(), p.user.ID)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	out := make([]roomJSON, 0, len(rooms))
	for _, rm := range rooms {
		if rm.Type == roomDirect && !slices.Contains(mine, rm.ID) {
			continue
		}
		out = append(out, roomJSON{ID: rm.ID, Name: rm.Name, Type: rm.Type})
	}
	writeJSON(w, http.StatusOK, out)
}

// getRoom opens a room: the caller becomes a member, and the room comes with its members.
func (s *server) getRoom(w http.ResponseWriter, r *http.Request, p principal) {
	room, ok := s.open(w, r, p, r.PathValue("id"))
	if !ok {
		return
	}
	members, err := s.b.chat.Members(r.Context(), room.ID)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, roomJSON{ID: room.ID, Name: room.Name, Type: room.Type, Users: members})
}

// open makes the caller a member of the room (the app never sends join_room: opening a room is
// joining it) and answers 404 for an unknown room, 403 for another users' direct room (nothing
// changes) and 403 over the rooms limit.
func (s *server) open(w http.ResponseWriter, r *http.Request, p principal, roomID string) (accounts.Room, bool) {
	if roomID == "" || len(roomID) > 128 {
		writeError(w, http.StatusNotFound, "Room not found")
		return accounts.Room{}, false
	}
	room, err := s.b.accounts.Room(r.Context(), roomID)
	if errors.Is(err, accounts.ErrNotFound) {
		writeError(w, http.StatusNotFound, "Room not found")
		return accounts.Room{}, false
	}
	if err != nil {
		s.failed(w, r, err)
		return accounts.Room{}, false
	}
	if room.Type == roomDirect {
		member, err := s.b.chat.IsMember(r.Context(), roomID, p.user.ID)
		if err != nil {
			s.failed(w, r, err)
			return accounts.Room{}, false
		}
		if !member {
			writeError(w, http.StatusForbidden, "Forbidden resource")
			return accounts.Room{}, false
		}
	}
	err = s.join(r.Context(), signaling.User{ID: p.user.ID, Username: p.user.Username}, roomID)
	var refused *signaling.Error
	if errors.As(err, &refused) && refused.Code == signaling.CodeForbidden {
		writeError(w, http.StatusForbidden, refused.Message)
		return accounts.Room{}, false
	}
	if err != nil {
		s.failed(w, r, err)
		return accounts.Room{}, false
	}
	return room, true
}

// openGroupRoom makes u a member of a group room, as opening it over REST does; other rooms
// (unknown or direct) are left alone, for the membership checks to refuse.
func (s *server) openGroupRoom(ctx context.Context, u signaling.User, roomID string) error {
	if len(roomID) > 128 {
		return nil
	}
	room, err := s.b.accounts.Room(ctx, roomID)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", signaling.ErrUnavailable, err)
	}
	if room.Type != roomGroup {
		return nil
	}
	return s.join(ctx, u, roomID)
}

// join makes u a member of a room, as chat does on `join_room`: the membership is stored, every
// live session of u is subscribed to the room, and the other members get `member_joined`.
func (s *server) join(ctx context.Context, u signaling.User, roomID string) error {
	member, err := s.b.chat.IsMember(ctx, roomID, u.ID)
	if err != nil || member {
		return err
	}
	rooms, err := s.b.chat.Rooms(ctx, u.ID)
	if err != nil {
		return err
	}
	if len(rooms) >= maxRoomsPerUser {
		return signaling.Errorf(signaling.CodeForbidden, "already a member of %d rooms, the limit", len(rooms))
	}
	if err := s.b.chat.Join(ctx, roomID, u); err != nil {
		return err
	}
	if err := s.node.SubscribeUser(ctx, u.ID, chat.RoomTopic(roomID)); err != nil {
		return err
	}
	ev := signaling.Envelope{Event: "member_joined", Data: map[string]any{"roomId": roomID, "user": u}}
	if err := s.node.Publish(ctx, chat.RoomTopic(roomID), ev, signaling.ExceptUser(u.ID)); err != nil {
		s.log.Info("member_joined not published", "room", roomID, "err", err)
	}
	return nil
}

type createRoomReq struct {
	Name  string   `json:"name"`
	Users []string `json:"users"`
	Type  string   `json:"type"`
}

func checkRoomName(name string) error {
	switch {
	case strings.TrimSpace(name) == "" || strings.TrimSpace(name) != name:
		return errors.New("room name is required, without leading or trailing spaces")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxRoomNameRunes:
		return fmt.Errorf("room name must be at most %d characters of UTF-8", maxRoomNameRunes)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("room name must not contain control characters")
	}
	return nil
}

// createRoom creates a room whose members are the caller and the listed users (who must exist).
func (s *server) createRoom(w http.ResponseWriter, r *http.Request, p principal) {
	var in createRoomReq
	if !decodeBody(w, r, &in) {
		return
	}
	if err := checkRoomName(in.Name); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch in.Type {
	case "":
		in.Type = roomGroup
	case roomGroup, roomDirect:
	default:
		writeError(w, http.StatusBadRequest, `type must be "group" or "direct"`)
		return
	}
	if len(in.Users) > maxRoomUsers {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("at most %d users", maxRoomUsers))
		return
	}
	ctx := r.Context()
	members := []signaling.User{{ID: p.user.ID, Username: p.user.Username}}
	seen := map[string]bool{p.user.ID: true}
	for _, id := range in.Users {
		if seen[id] {
			continue
		}
		seen[id] = true
		u, err := s.b.accounts.User(ctx, id)
		if errors.Is(err, accounts.ErrNotFound) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("no user %q", id))
			return
		}
		if err != nil {
			s.failed(w, r, err)
			return
		}
		members = append(members, signaling.User{ID: u.ID, Username: u.Username})
	}
	n, err := s.b.accounts.RoomsCreatedBy(ctx, p.user.ID)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	if n >= maxRoomsPerUser {
		writeError(w, http.StatusForbidden, fmt.Sprintf("you created %d rooms, the limit", n))
		return
	}
	room := accounts.Room{ID: uuid.NewString(), Name: in.Name, Type: in.Type, CreatedBy: p.user.ID, CreatedAt: s.clock.Now()}
	err = s.b.accounts.CreateRoom(ctx, room)
	if errors.Is(err, accounts.ErrExists) {
		writeError(w, http.StatusConflict, "Room already exists")
		return
	}
	if err != nil {
		s.failed(w, r, err)
		return
	}
	for _, u := range members {
		if err := s.join(ctx, u, room.ID); err != nil && signaling.ErrorCode(err) != signaling.CodeForbidden {
			s.failed(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, roomJSON{ID: room.ID, Name: room.Name, Type: room.Type})
}
