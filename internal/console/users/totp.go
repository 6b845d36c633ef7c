package users

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTPIssuer names the console in authenticator apps.
const TOTPIssuer = "wsdeck"

// totpOpts are the codes' parameters: RFC 6238's defaults (30-second
// steps, 6 digits, HMAC-SHA1), which every authenticator app reads, and
// one step of skew either way for clocks that drift.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// EnrolTOTP gives name a new TOTP secret (a second factor at login,
// replacing any earlier one) and returns the otpauth:// URL that an
// authenticator app reads (as a QR code or typed in).
func (s *Store) EnrolTOTP(ctx context.Context, name string) (string, error) {
	name, err := CheckName(name)
	if err != nil {
		return "", err
	}
	if s.sealErr != nil {
		return "", s.sealErr
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: name, Period: totpOpts.Period,
		Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
	if err != nil {
		return "", fmt.Errorf("users: a TOTP secret for %s: %w", name, err)
	}
	sealed := s.seal.seal(name, key.Secret())
	if _, err := s.change(ctx, name, func(u *User) error {
		u.TOTP, u.TOTPStep, u.CredentialsChanged = sealed, 0, time.Now()
		return nil
	}); err != nil {
		return "", err
	}
	return key.URL(), nil
}

// RemoveTOTP takes name's second factor away.
func (s *Store) RemoveTOTP(ctx context.Context, name string) error {
	_, err := s.change(ctx, name, func(u *User) error {
		if u.TOTP != "" {
			u.TOTP, u.TOTPStep, u.CredentialsChanged = "", 0, time.Now()
		}
		return nil
	})
	return err
}

// totpStep returns the time step whose code code is, among now's and the
// steps either side, if it is later than last, the last one used.
func totpStep(secret string, last int64, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if secret == "" || len(code) != totpOpts.Digits.Length() {
		return 0, false
	}
	period := int64(totpOpts.Period)
	for off := -int64(totpOpts.Skew); off <= int64(totpOpts.Skew); off++ {
		step := now.Unix()/period + off
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*period, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > last {
			return step, true
		}
	}
	return 0, false
}

// totpSecret returns u's TOTP secret in clear ("" for none), and whether
// the record holds it sealed.
func (s *Store) totpSecret(u User) (secret string, sealed bool, err error) {
	if u.TOTP == "" {
		return "", true, nil
	}
	if s.sealErr != nil {
		return "", false, s.sealErr
	}
	return s.seal.open(u.Name, u.TOTP)
}

// UseTOTP reports whether code is u's TOTP code at now, or one step
// before or after, and not of a step already used; if it is, it records
// its step in u's record, by compare and set, so that the code is not
// accepted again: of two logins with one code (a replayed one), on any
// nodes, one gets in. A record that held the secret in clear (written
// before secrets were sealed) is sealed by the same write. u is the user
// as Verify returned them. A user without a second factor has no code.
// The error is ErrWrongKey for a secret sealed under another key, or the
// bucket's.
func (s *Store) UseTOTP(ctx context.Context, u User, code string, now time.Time) (bool, error) {
	for {
		secret, sealed, err := s.totpSecret(u)
		if err != nil {
			return false, err
		}
		step, ok := totpStep(secret, u.TOTPStep, code, now)
		if !ok {
			return false, nil
		}
		u.TOTPStep = step
		if !sealed {
			u.TOTP = s.seal.seal(u.Name, secret)
		}
		_, err = s.Update(ctx, u)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, ErrConflict) {
			return false, err
		}
		// Written meanwhile (the same code used elsewhere, a rehash):
		// look again.
		if u, err = s.Get(ctx, u.Name); err != nil {
			return false, err
		}
	}
}

// TOTPCode returns the code of secret at t, for tests and scripts.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}
