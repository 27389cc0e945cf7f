package server

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// TestLogs_NoSecrets runs every kind of request that carries a secret and
// then searches the logs and the metrics for each token, password and
// secret it saw (SPEC §4: never a password, secret or token in a log).
func TestLogs_NoSecrets(t *testing.T) {
	e := newEnv(t)
	e.addClient("app", appSecret, nil)
	e.addClient("rs", rsSecret, func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	const alicePW, adminPW = "alice-password-7Q", "admin-password-9Z"
	e.addUser("alice", alicePW, nil)
	e.addUser("root", adminPW, func(u *storage.User) { u.Admin = true })
	secrets := []string{appSecret, rsSecret, alicePW, adminPW, "wrong-password-X1"}
	seen := func(r tokenResult) {
		for _, k := range []string{"access_token", "refresh_token"} {
			if v := r.str(k); v != "" {
				secrets = append(secrets, v)
			}
		}
	}

	login := e.login("app", appSecret, "alice", alicePW)
	seen(login)
	seen(e.login("app", appSecret, "alice", "wrong-password-X1"))
	seen(e.login("app", appSecret, "nobody", "wrong-password-X1"))
	r1 := e.refresh("app", appSecret, login.str("refresh_token"))
	seen(r1)
	seen(e.refresh("app", appSecret, login.str("refresh_token"))) // grace retry
	seen(e.token(url.Values{"grant_type": {"client_credentials"}}, "rs", rsSecret))
	e.introspect(r1.str("access_token"), "rs", rsSecret)
	e.introspect(r1.str("refresh_token"), "app", appSecret)
	e.post("/revoke", url.Values{"token": {r1.str("access_token")}}, "app", appSecret).Body.Close()

	admin := e.consoleLogin("root", adminPW, AdminScope)
	seen(admin)
	const newPW = "new-user-password-5K"
	secrets = append(secrets, newPW)
	e.adminCall("POST", "/admin/api/users", admin.str("access_token"), `{"username":"carol","password":"`+newPW+`"}`)
	e.adminCall("PATCH", "/admin/api/users/carol", admin.str("access_token"), `{"password":"`+newPW+`-2"}`)
	created := e.adminCall("POST", "/admin/api/clients", admin.str("access_token"), `{"id":"gen"}`)
	var cl struct {
		Secret string `json:"secret"`
	}
	created.json(t, &cl)
	if cl.Secret == "" {
		t.Fatalf("no generated secret in %s", created.Body)
	}
	secrets = append(secrets, cl.Secret)
	e.adminCall("GET", "/admin/api/users", "Bearer-garbage-"+appSecret, "")
	// Reuse outside the grace: a security event, logged.
	e.clock.Advance(time.Minute)
	seen(e.refresh("app", appSecret, login.str("refresh_token")))

	logs := e.logBuf.String() + e.get("/metrics")
	if !strings.Contains(logs, "login_failed") || !strings.Contains(logs, "refresh_reuse") {
		t.Fatalf("the logs lack the audit events this test expects; is logging on?\n%s", logs)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			t.Errorf("a secret appears in the logs or metrics: %.12s…", s)
		}
		// A JWT's signature alone is enough to replay nothing, but its
		// payload and header would betray a logged token too.
		if parts := strings.Split(s, "."); len(parts) == 3 && strings.Contains(logs, parts[2]) {
			t.Errorf("an access token signature appears in the logs: %.12s…", parts[2])
		}
	}
}
