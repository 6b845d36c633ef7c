// Package hostexpr parses host expressions, the target lists of batch
// commands (wsdeck exec, the console's Exec tab), and folds host lists back
// into the compact form for summaries.
//
// An expression is a list of terms separated by commas or white space.
// Each term is one of:
//
//	local                         this machine, without SSH
//	web01.example.com             a host name
//	192.0.2.7, ::1, [::1]         an IP address (IPv6 in brackets when a port follows)
//	127.0.0.1-100                 a last-octet IPv4 range (the tutorial's form)
//	10.0.0.1-10.0.1.20            a whole-address IPv4 range
//	192.168.1.0/28                a CIDR prefix: for IPv4 up to /30 its usable hosts,
//	                              without the network and broadcast addresses
//	web[01-20,25].example.com     pdsh/ClusterShell brackets: numbers and ranges,
//	                              zero padding kept, several groups multiply
//	                              (rack[1-2]-node[1-3]: the last group varies fastest)
//
// and may carry a user and a port, as in root@web[01-03]:2222 or
// admin@[::1]:22. A term written !TERM removes what it names from the
// result, wherever it stands in the list; a term without user or port
// removes the host for every user and port, and an excluded prefix removes
// all its addresses. [Options].Exclude (the CLI's -x)
// is an expression all of whose terms are exclusions.
//
// Host names are lower-cased and IP addresses written canonically, so
// duplicates are found whatever their spelling; they are removed, first
// appearance kept, order preserved.
//
// The number of hosts is capped ([DefaultMaxHosts], [Options].MaxHosts). The
// terms are counted before any is expanded, so 10.0.0.0/8 is refused without
// allocating sixteen million addresses, and exclusions are matched, never
// expanded.
//
// Every malformed expression gets a [*SyntaxError] that says where the bad
// part is (a byte offset and the fragment).
//
// A [NamePattern] matches host names for allow-lists: a name with * and ?
// wildcards, which never match a dot (as in TLS wildcards), and bracket
// groups.
//
// [Fold] writes a host list back compactly: 127.0.0.[1-5,7], web[01-03],
// 127.0.[0-3].[1-254]. Parsing what Fold returns yields the same set.
package hostexpr
