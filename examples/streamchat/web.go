package main

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

// spaHandler serves the app's built files from dir. A path that names no file and looks like a
// route of the app (its last segment has no extension: /stream/meeting/<id>) gets index.html, so
// that a reload on a deep link works; a missing asset (/main.js) stays a 404.
func spaHandler(dir string) http.Handler {
	root := os.DirFS(dir)
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		st, err := fs.Stat(root, name)
		switch {
		case err == nil && !st.IsDir():
			if name == "index.html" {
				w.Header().Set("Cache-Control", "no-cache")
			}
			files.ServeHTTP(w, r)
			return
		case err == nil, errors.Is(err, fs.ErrNotExist) && !strings.Contains(path.Base(name), "."):
			// A directory (the root) or an app route.
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, root, "index.html")
			return
		}
		http.NotFound(w, r)
	})
}
