package batch

import "strings"

// localEnvKeep are the variables a local command inherits from wsdeck's
// environment; nothing else is passed on. It is what an SSH session
// gives a command (sshd sets the user's identity, home, shell and path,
// and passes the locale), so that local behaves like another host and
// none of the console's secrets ($WSDECK_TOKEN, cloud credentials, an
// ssh-agent socket) reaches the commands or the viewers of their output.
// TERM is not kept: the output goes to a pipe, not a terminal.
var localEnvKeep = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR"}

// defaultPath is PATH for a local command when wsdeck has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// localEnv returns the environment of a local command, from environ (in
// os.Environ's form): the variables of localEnvKeep and LC_*.
func localEnv(environ []string) []string {
	var env []string
	hasPath := false
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		keep := strings.HasPrefix(k, "LC_")
		for _, name := range localEnvKeep {
			keep = keep || k == name
		}
		if keep {
			env = append(env, kv)
			hasPath = hasPath || k == "PATH"
		}
	}
	if !hasPath {
		env = append(env, "PATH="+defaultPath)
	}
	return env
}
