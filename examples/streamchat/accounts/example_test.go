package accounts_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/huddle-go/huddle/examples/streamchat/accounts"
	_ "modernc.org/sqlite"
)

// A sign-in's refresh token is rotated once; presenting the old one again revokes the sign-in.
func Example() {
	dir, _ := os.MkdirTemp("", "accounts")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(dir, "a.db"))
	defer db.Close()
	ctx := context.Background()
	st, err := accounts.Open(ctx, db, accounts.SQLite)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	_ = st.CreateUser(ctx, accounts.User{ID: "u1", Username: "alice", CreatedAt: now, UpdatedAt: now}, "<bcrypt hash>")
	_ = st.AddRefresh(ctx, accounts.RefreshToken{ID: "t1", UserID: "u1", Family: "t1", Hash: "h1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})

	next, err := st.RotateRefresh(ctx, "t1", "h1", now, accounts.RefreshToken{ID: "t2", Hash: "h2", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	fmt.Println(next.UserID, next.Family, err)
	_, err = st.RotateRefresh(ctx, "t1", "h1", now, accounts.RefreshToken{ID: "t3", Hash: "h3", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	fmt.Println(err)
	_, err = st.RotateRefresh(ctx, "t2", "h2", now, accounts.RefreshToken{ID: "t4", Hash: "h4", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	fmt.Println(err)
	// Output:
	// u1 t1 <nil>
	// accounts: refresh token reused
	// accounts: refresh token invalid
}
