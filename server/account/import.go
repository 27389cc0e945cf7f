package account

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/authd/authd/server/internal/scopes"
	"github.com/authd/authd/server/password"
)

// ImportedUser is one user read by ParseImport.
type ImportedUser struct {
	// Username is lower-cased and valid (see NormalizeUsername).
	Username string
	// Hash is a bcrypt hash ($2a$, $2b$, $2y$) or an argon2id PHC string,
	// already validated.
	Hash string
	// Scopes the user may be granted; nil means any except authd:admin.
	Scopes []string
	// Admin grants authd:admin.
	Admin    bool
	Disabled bool
}

// ImportError is an error in an import file. Its message names the line and
// never contains a password hash.
type ImportError struct {
	Line int // 1-based; 0 for the file as a whole
	Msg  string
}

func (e *ImportError) Error() string {
	if e.Line == 0 {
		return "account: import: " + e.Msg
	}
	return fmt.Sprintf("account: import: line %d: %s", e.Line, e.Msg)
}

// MaxImportLine is the longest line, in bytes, that ParseImport reads.
const MaxImportLine = 64 * 1024

// ParseImport reads users to import. The format is detected from the first
// line that is neither blank nor a comment:
//
//   - JSON lines when it starts with '{': one object per line,
//     {"username":"alice","password_hash":"$2b$...","scopes":["read"],
//     "admin":false,"disabled":false}, where username and password_hash are
//     required, unknown fields are rejected, and password_hash is a bcrypt
//     or argon2id PHC hash;
//   - otherwise an Apache htpasswd file, "alice:$2y$10$...", bcrypt hashes
//     only: SHA-1 ({SHA}), MD5 ($apr1$), crypt and plain-text lines are
//     rejected.
//
// In both formats blank lines and lines starting with '#' are skipped, CRLF
// line ends and a leading UTF-8 byte order mark are accepted. Usernames are
// normalised by NormalizeUsername; a username that appears twice is an
// error. Scopes must be RFC 6749 scope tokens; duplicates are dropped;
// authd:admin is not a scope here but the "admin" field. A file with no
// user is an error.
//
// Errors are *ImportError values naming the line, or read errors from r
// wrapped; no message contains a hash.
func ParseImport(r io.Reader) ([]ImportedUser, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxImportLine)
	var (
		users  []ImportedUser
		seen   = map[string]int{}
		isJSON bool
		known  bool // format detected
		line   int
	)
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		text = strings.TrimSuffix(text, "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if !known {
			isJSON = strings.HasPrefix(strings.TrimLeft(text, " \t"), "{")
			known = true
		}
		var (
			u   ImportedUser
			msg string
		)
		if isJSON {
			u, msg = parseJSONLine(text)
		} else {
			u, msg = parseHtpasswdLine(text)
		}
		if msg != "" {
			return nil, &ImportError{Line: line, Msg: msg}
		}
		if first, dup := seen[u.Username]; dup {
			return nil, &ImportError{Line: line, Msg: fmt.Sprintf("duplicate username %q (first on line %d)", u.Username, first)}
		}
		seen[u.Username] = line
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ImportError{Line: line + 1, Msg: fmt.Sprintf("line longer than %d bytes", MaxImportLine)}
		}
		return nil, fmt.Errorf("account: import: read: %w", err)
	}
	if len(users) == 0 {
		return nil, &ImportError{Msg: "no users in file"}
	}
	return users, nil
}

// jsonMsg turns a decoding error into a message of this package: those of
// encoding/json may quote the input.
func jsonMsg(err error) string {
	if err == nil {
		return ""
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case errors.As(err, &typ):
		return "want one JSON object per line"
	default:
		return "malformed JSON"
	}
}

type jsonUser struct {
	Username     *string  `json:"username"`
	PasswordHash *string  `json:"password_hash"`
	Scopes       []string `json:"scopes"`
	Admin        bool     `json:"admin"`
	Disabled     bool     `json:"disabled"`
}

// parseJSONLine parses one JSON line; a non-empty msg is the error. Messages
// come from this package only, never from encoding/json, whose messages may
// quote the input.
func parseJSONLine(text string) (ImportedUser, string) {
	var fields map[string]json.RawMessage
	if msg := jsonMsg(json.Unmarshal([]byte(text), &fields)); msg != "" {
		return ImportedUser{}, msg
	}
	for k := range fields {
		switch k {
		case "username", "password_hash", "scopes", "admin", "disabled":
		default:
			return ImportedUser{}, "unknown field (want username, password_hash, scopes, admin, disabled)"
		}
	}
	var j jsonUser
	if msg := jsonMsg(json.Unmarshal([]byte(text), &j)); msg != "" {
		return ImportedUser{}, msg
	}
	if j.Username == nil {
		return ImportedUser{}, "missing username"
	}
	if j.PasswordHash == nil {
		return ImportedUser{}, "missing password_hash"
	}
	name, err := NormalizeUsername(*j.Username)
	if err != nil {
		return ImportedUser{}, err.Error()
	}
	hash := *j.PasswordHash
	if !password.IsBcrypt(hash) && !password.IsArgon2id(hash) {
		return ImportedUser{}, fmt.Sprintf("user %q: password_hash must be bcrypt ($2a$, $2b$, $2y$) or argon2id", name)
	}
	if msg := hashMsg(name, hash); msg != "" {
		return ImportedUser{}, msg
	}
	scopes, msg := checkScopes(j.Scopes)
	if msg != "" {
		return ImportedUser{}, fmt.Sprintf("user %q: %s", name, msg)
	}
	return ImportedUser{Username: name, Hash: hash, Scopes: scopes, Admin: j.Admin, Disabled: j.Disabled}, ""
}

// hashMsg checks hash with password.CheckHash, the limits Verify applies,
// and returns the error message for user name, or "".
func hashMsg(name, hash string) string {
	var he *password.HashError
	if err := password.CheckHash(hash); errors.As(err, &he) {
		return fmt.Sprintf("user %q: %s", name, he.Reason)
	} else if err != nil {
		return fmt.Sprintf("user %q: unusable password hash", name)
	}
	return ""
}

// checkScopes applies Scopes, with the import's messages.
func checkScopes(in []string) ([]string, string) {
	out, err := Scopes(in)
	var ve *scopes.ValueError
	switch {
	case err == nil:
		return out, ""
	case errors.Is(err, scopes.ErrTooMany):
		return nil, fmt.Sprintf("scopes: at most %d values", scopes.MaxValues)
	case errors.As(err, &ve) && (ve.Value == "" || errors.Is(err, scopes.ErrTooLong)):
		return nil, fmt.Sprintf("scopes must be 1 to %d bytes long", scopes.MaxLen)
	case ve != nil:
		return nil, fmt.Sprintf("scope %q has a character not allowed in scopes (RFC 6749 §3.3)", ve.Value)
	default: // ErrAdminScope
		return nil, `scope authd:admin is granted with "admin": true`
	}
}

// parseHtpasswdLine parses "user:hash"; a non-empty msg is the error.
func parseHtpasswdLine(text string) (ImportedUser, string) {
	rawName, hash, ok := strings.Cut(text, ":")
	if !ok {
		return ImportedUser{}, "want username:hash"
	}
	name, err := NormalizeUsername(rawName)
	if err != nil {
		return ImportedUser{}, err.Error()
	}
	switch {
	case password.IsBcrypt(hash):
		if msg := hashMsg(name, hash); msg != "" {
			return ImportedUser{}, msg
		}
		return ImportedUser{Username: name, Hash: hash}, ""
	case strings.HasPrefix(hash, "{SHA}"):
		return ImportedUser{}, fmt.Sprintf("user %q: SHA-1 ({SHA}) hashes are not accepted, only bcrypt; reset this user's password with htpasswd -B", name)
	case strings.HasPrefix(hash, "$apr1$"), strings.HasPrefix(hash, "$1$"):
		return ImportedUser{}, fmt.Sprintf("user %q: MD5 ($apr1$) hashes are not accepted, only bcrypt; reset this user's password with htpasswd -B", name)
	case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		return ImportedUser{}, fmt.Sprintf("user %q: SHA-crypt hashes are not accepted, only bcrypt; reset this user's password with htpasswd -B", name)
	default:
		return ImportedUser{}, fmt.Sprintf("user %q: crypt or plain-text passwords are not accepted, only bcrypt; reset this user's password with htpasswd -B", name)
	}
}
