// Package policy decides, in team mode, what each user may run where: the
// console's policy file (wsdeck serve --policy FILE).
//
// The file is YAML. It names host groups, each a host expression in the
// syntax of the Exec tab (package hostexpr, exclusions written !TERM), and
// binds users and OIDC groups to a role and to host groups:
//
//	groups:
//	  web: "web[01-20].example.com !web13.example.com"
//	  db: [db1.example.com, db2.example.com]
//	bindings:
//	  - users: [alice]
//	    role: operator
//	    hosts: [web]
//	  - oidc_groups: [ops]
//	    role: operator
//	    hosts: [web, db]
//	  - users: [bob]
//	    role: admin
//
// [Parse] reads it strictly: an unknown field, a group that names no host
// or a user or port, a binding without users or OIDC groups, an unknown
// role or group, hosts on a viewer's or an admin's binding, are errors
// ([*Error]) that name the file and the line. A file is at most
// [MaxFileSize] bytes and its groups name at most [MaxHosts] hosts in all.
//
// [Policy.Access] evaluates the policy for a [Subject] (a user name, the
// user's own role, their OIDC groups): the effective role is the highest
// of the user's own and of every binding that names the user or one of
// their groups, and the host groups are those of all those bindings. An
// [Access] then checks targets ([Access.Allowed]): a viewer runs nothing;
// an operator reaches only the hosts of its groups; an admin reaches any
// host; and no one reaches a host beyond the ceiling (--allow-hosts,
// [Options].Ceiling), whatever the bindings say. [Access.Expand] expands an
// Exec expression in which @NAME stands for a host group.
//
// Without a policy file, [Default] keeps the console as it was before team
// mode: every user keeps their own role, and operators reach every host
// within the ceiling.
//
// [Live] holds the policy in force for a running console: NewLive reads
// the file at start (a bad file: the console does not start), Reload reads
// it again (on SIGHUP) and keeps the policy in force when the new file is
// bad; each read reports the SHA-256 of the file, for the audit log.
//
// A Policy and an Access are immutable and safe for concurrent use.
package policy
