package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/huddle-go/huddle/web"
	"github.com/matryer/is"
)

// importRE matches the specifiers of static imports and re-exports in the page's ES modules.
var importRE = regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)

// TestModulesResolve: every module the page loads is embedded, and every relative import in
// them names an embedded file, so the page runs from the Go binary alone (no npm, no build).
func TestModulesResolve(t *testing.T) {
	is := is.New(t)
	files := web.FS()
	for _, entry := range []string{"index.html", "app/main.js", "client/index.js", "huddle-client.js", "style.css"} {
		_, err := fs.Stat(files, entry)
		is.NoErr(err) // embedded
	}
	modules, imports := 0, 0
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		modules++
		src, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		for _, m := range importRE.FindAllStringSubmatch(string(src), -1) {
			spec := m[1] + m[2]
			imports++
			is.True(strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../")) // no bare specifiers: browsers load files, not packages
			target := path.Join(path.Dir(p), spec)
			_, err := fs.Stat(files, target)
			is.NoErr(err) // the imported module is embedded
		}
		return nil
	})
	is.NoErr(err)
	is.True(modules >= 20) // the page's modules and the client's were all walked
	is.True(imports >= 40) // and their imports read
}

// TestHandlerServesConfig: config.json says how to sign in and where the socket is.
func TestHandlerServesConfig(t *testing.T) {
	is := is.New(t)
	srv := httptest.NewServer(web.Handler(&web.Options{SignIn: web.SignInDev, WebSocketURL: "wss://chat.example.com/ws"}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/config.json")
	is.NoErr(err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	is.Equal(res.Header.Get("Content-Type"), "application/json")                                            // JSON
	is.Equal(string(body), `{"auth":"dev","iceTransportPolicy":"all","wsUrl":"wss://chat.example.com/ws"}`) // the options, with defaults
	res, err = http.Get(srv.URL + "/app/main.js")
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, http.StatusOK)                                      // the page's modules are served
	is.True(strings.Contains(res.Header.Get("Content-Type"), "text/javascript")) // as JavaScript, which module scripts require
}
