package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// roles is the roles' policy in force (--policy) and the loop that reads
// it again when Config.PolicyReload receives.
type roles struct {
	live  *policy.Live
	audit *audit.Log
	stop  chan struct{}
	wg    sync.WaitGroup
	// onChange are called after a reload that changed the policy (set
	// while the endpoints are built, before the loop starts).
	onChange []func()
}

// openRoles reads the policy file (none: policy.Default), with the Exec
// ceiling (--allow-hosts) as the bound no binding passes, and audits the
// load. A bad file is an error naming the file and the line: the console
// does not start. log receives the audit record of each load.
func (s *Server) openRoles(ctx context.Context, log *audit.Log) error {
	ceiling := batch.DefaultPolicy()
	if s.cfg.Exec != nil && s.cfg.Exec.Policy != nil {
		ceiling = s.cfg.Exec.Policy
	}
	live, ld, err := policy.NewLive(s.cfg.PolicyFile, &policy.Options{Ceiling: ceiling})
	if err != nil {
		return fmt.Errorf("server: %w (--policy)", err)
	}
	s.roles = &roles{live: live, audit: log, stop: make(chan struct{})}
	if s.cfg.PolicyFile == "" {
		s.log.Info("policy: none (--policy): users keep their own roles; operators and admins reach every host within --allow-hosts")
		return nil
	}
	s.policyLoaded(ctx, ld, "loaded at start", "")
	return nil
}

// Roles returns the roles' policy in force: what each identity may do.
// Read it for every decision: a reload replaces it.
func (s *Server) Roles() *policy.Policy { return s.roles.live.Policy() }

// effectiveRole is the role id has under the policy in force, as Exec
// computes it for each message: the highest of their own and of the
// bindings naming them or their groups; a user of single sign-on has no
// role of their own, only the bindings in force. The page's header shows
// it, and the sessions API requires an admin by it.
func (s *Server) effectiveRole(id auth.Identity) users.Role {
	own := id.Role
	if id.Method == auth.MethodOIDC {
		own = 0
	}
	return s.Roles().Access(policy.Subject{Name: id.User, Role: own, Groups: id.Groups}).Role
}

// watchPolicy reads the policy file again each time Config.PolicyReload
// receives, until stopPolicy.
func (s *Server) watchPolicy() {
	if s.cfg.PolicyReload == nil || s.cfg.PolicyFile == "" {
		return
	}
	r := s.roles
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-r.stop:
				return
			case _, ok := <-s.cfg.PolicyReload:
				if !ok {
					return
				}
				s.reloadPolicy(context.Background())
			}
		}
	}()
}

// stopPolicy stops watchPolicy's loop and waits for it.
func (s *Server) stopPolicy() {
	if s.roles == nil {
		return
	}
	select {
	case <-s.roles.stop:
	default:
		close(s.roles.stop)
	}
	s.roles.wg.Wait()
}

// reloadPolicy reads the policy file again: a good one applies at once
// to every socket's next message, a bad one leaves the policy in force.
// Either way the read is audited.
func (s *Server) reloadPolicy(ctx context.Context) policy.LoadResult {
	was := s.roles.live.Hash()
	ld := s.roles.live.Reload()
	switch {
	case ld.Err != nil:
		s.policyLoaded(ctx, ld, "refused", was)
	case ld.Changed:
		s.policyLoaded(ctx, ld, "reloaded", was)
		for _, f := range s.roles.onChange {
			f()
		}
		s.revokeStaleOIDC(ctx) // oidc.go
	default:
		s.policyLoaded(ctx, ld, "unchanged", was)
	}
	return ld
}

// policyLoaded logs and audits a read of the policy file.
func (s *Server) policyLoaded(ctx context.Context, ld policy.LoadResult, what, was string) {
	reason := fmt.Sprintf("%s, sha256 %s", what, orNone(ld.Hash))
	switch {
	case ld.Err != nil:
		reason = fmt.Sprintf("%s: %v; kept sha256 %s", reason, ld.Err, orNone(was))
		s.log.Error("policy: the file is refused; the policy in force is kept", "file", ld.File, "err", ld.Err, "sha256", ld.Hash)
	case what == "reloaded":
		reason = fmt.Sprintf("%s (was %s)", reason, orNone(was))
		s.log.Info("policy: reloaded", "file", ld.File, "sha256", ld.Hash, "was", was)
	default:
		s.log.Info("policy: "+what, "file", ld.File, "sha256", ld.Hash)
	}
	if s.roles.audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), policyAuditTimeout)
	defer cancel()
	rec := audit.Record{Event: audit.EventPolicy, Client: "policy " + ld.File, Reason: reason, Node: s.cfg.NodeName}
	if _, err := s.roles.audit.Write(ctx, rec); err != nil {
		s.log.Error("audit: writing the policy's record", "file", ld.File, "err", err)
	}
}

// policyAuditTimeout bounds the writing of a policy load's audit record.
const policyAuditTimeout = 10 * time.Second

func orNone(hash string) string {
	if hash == "" {
		return "none"
	}
	return hash
}
