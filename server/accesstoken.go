package server

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/keys"
)

// AccessClaims are the verified claims of an authd access token.
type AccessClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Username  string
	ClientID  string
	Scope     []string
	JTI       string
	Exp       time.Time
	IssuedAt  time.Time
	NotBefore time.Time
	AuthTime  time.Time
	// SessionGen is the user's SessionGen at issue (claim authd_gen), nil
	// in tokens of clients and in tokens issued before the claim existed;
	// ClientInstance the client's Instance (authd_ci). See tokenCurrent.
	SessionGen     *uint64
	ClientInstance string
}

// errTokenInvalid covers every reason an access token is not accepted.
var errTokenInvalid = errors.New("server: access token invalid")

// verifyAccessToken checks an access token as a resource server would
// (RFC 9068 §4) and more: signature by a published, unrevoked key, typ
// at+jwt, our issuer, not expired, not before nbf, and not on the deny list.
func (s *Server) verifyAccessToken(ctx context.Context, token string) (*AccessClaims, error) {
	if len(token) > keys.MaxTokenSize || strings.Count(token, ".") != 2 {
		return nil, errTokenInvalid
	}
	payload, err := s.keys.Verify(token)
	if err != nil {
		return nil, errTokenInvalid
	}
	ac, err := parseAccessClaims(payload)
	if err != nil {
		return nil, errTokenInvalid
	}
	now := s.now()
	if ac.Issuer != s.cfg.Issuer || !now.Before(ac.Exp) || now.Add(time.Minute).Before(ac.NotBefore) {
		return nil, errTokenInvalid
	}
	denied, err := s.store.AccessTokenDenied(ctx, ac.JTI)
	if err != nil {
		return nil, err
	}
	if denied {
		return nil, errTokenInvalid
	}
	return ac, nil
}

// parseAccessClaims decodes the claims of a verified payload. exp, iat and
// jti are required.
func parseAccessClaims(payload []byte) (*AccessClaims, error) {
	var raw struct {
		Iss      string          `json:"iss"`
		Sub      string          `json:"sub"`
		Aud      json.RawMessage `json:"aud"`
		Exp      json.RawMessage `json:"exp"`
		Iat      json.RawMessage `json:"iat"`
		Nbf      json.RawMessage `json:"nbf"`
		AuthTime json.RawMessage `json:"auth_time"`
		JTI      string          `json:"jti"`
		ClientID string          `json:"client_id"`
		Scope    string          `json:"scope"`
		Username string          `json:"preferred_username"`
		Gen      *uint64         `json:"authd_gen"`
		Instance string          `json:"authd_ci"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, err
	}
	if len(raw.Exp) == 0 || len(raw.Iat) == 0 || raw.JTI == "" || raw.Sub == "" {
		return nil, errTokenInvalid
	}
	ac := &AccessClaims{Issuer: raw.Iss, Subject: raw.Sub, JTI: raw.JTI, ClientID: raw.ClientID, Username: raw.Username,
		SessionGen: raw.Gen, ClientInstance: raw.Instance}
	var err error
	if ac.Exp, err = unixTime(raw.Exp); err != nil {
		return nil, err
	}
	if ac.IssuedAt, err = unixTime(raw.Iat); err != nil {
		return nil, err
	}
	if len(raw.Nbf) > 0 {
		if ac.NotBefore, err = unixTime(raw.Nbf); err != nil {
			return nil, err
		}
	}
	if len(raw.AuthTime) > 0 {
		if ac.AuthTime, err = unixTime(raw.AuthTime); err != nil {
			return nil, err
		}
	}
	if len(raw.Aud) > 0 {
		var one string
		if json.Unmarshal(raw.Aud, &one) == nil {
			ac.Audience = []string{one}
		} else if err := json.Unmarshal(raw.Aud, &ac.Audience); err != nil {
			return nil, err
		}
	}
	// Signed by us, so not held to the limits of a request's scope
	// parameter: a client registered before them may hold more.
	ac.Scope = strings.Fields(raw.Scope)
	return ac, nil
}

// unixTime decodes an RFC 7519 NumericDate: a JSON number (never a
// string), whole seconds kept.
func unixTime(raw json.RawMessage) (time.Time, error) {
	var f float64
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &f) != nil || f < 0 || f > 1<<40 {
		return time.Time{}, errTokenInvalid
	}
	return time.Unix(int64(f), 0), nil
}

// HasScope reports whether the token carries scope.
func (ac *AccessClaims) HasScope(scope string) bool { return slices.Contains(ac.Scope, scope) }
