//go:build !unix

package testpeer

import "errors"

func npmCI(root string, installed func() bool) error {
	return errors.New("run npm ci at the module root")
}
