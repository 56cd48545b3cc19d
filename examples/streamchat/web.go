package main

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

// spaHandler serves the app's built files from dir. A path that names no file and looks like a
// route of the app (its last segment has no extension: /stream/meeting/<id>) gets index.html, so
// that a reload on a deep link works; a missing asset (/main.js) stays a 404. A build with
// server-side rendering names its page index.csr.html: that one is used when there is no
// index.html.
func spaHandler(dir string) http.Handler {
	root := os.DirFS(dir)
	files := http.FileServerFS(root)
	index := "index.html"
	if _, err := fs.Stat(root, index); err != nil {
		if _, err := fs.Stat(root, "index.csr.html"); err == nil {
			index = "index.csr.html"
		}
	}
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
			serveIndex(w, r, root, index)
			return
		}
		http.NotFound(w, r)
	})
}

// serveIndex writes the app's page. It does not go through http.ServeFileFS, which redirects
// requests for a path ending in /index.html.
func serveIndex(w http.ResponseWriter, r *http.Request, root fs.FS, name string) {
	f, err := root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, name, st.ModTime(), rs)
}
