package invoke

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The Runtime API answers only its own environment. Its listener is on loopback, where any
// local process can connect: a foreign one could take an invocation from /next (with its
// payload) or post a forged /response, which for a mapping commits offsets of records never
// processed. SO_PEERCRED does not work on TCP, and a network namespace would cut the function
// off from its network, so each accepted connection is traced back through /proc/net/tcp{,6}
// (the peer's socket: its owner's uid and its inode) to the environment:
//   - with function uids, the socket's uid must be the environment's;
//   - without, the socket's inode must be open in a process of the environment's cgroup, or,
//     without cgroups, of its process group (everyone has the same uid then).
//
// Any other caller gets a 403 and the server logs it.

// peerListener accepts only connections from its environment.
type peerListener struct {
	net.Listener
	v *env
	// refusing bounds the refusals answered at once; beyond it a foreign connection is closed
	// without an answer.
	refusing chan struct{}
}

// maxRefusing is how many foreign connections one Runtime API answers at a time.
const maxRefusing = 16

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		why := l.v.foreignPeer(c)
		if why == "" {
			return c, nil
		}
		l.v.e.cfg.Logger.Warn("runtime API call refused: the caller is not this execution environment",
			"function", l.v.fn.FunctionName, "peer", c.RemoteAddr().String(), "reason", why)
		// Answered aside: a caller that sends nothing must not hold up the environment's own
		// connections behind it.
		select {
		case l.refusing <- struct{}{}:
			go func() {
				defer func() { <-l.refusing }()
				refuse(c)
			}()
		default:
			_ = c.Close()
		}
	}
}

// refuse answers a foreign connection with 403 and closes it. It reads the request briefly
// first, so that the caller sees the status rather than a reset.
func refuse(c net.Conn) {
	body := errorJSON("AccessDeniedException", "This Runtime API serves only its own execution environment.")
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 4096)
	_, _ = c.Read(buf)
	_, _ = fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		_, _ = c.Read(buf)
	}
	_ = c.Close()
}

// foreignPeer returns why c does not come from v's process tree, "" when it does.
func (v *env) foreignPeer(c net.Conn) string {
	if runtime.GOOS != "linux" || v.e.anyPeer {
		return "" // no /proc/net/tcp: not checked
	}
	remote, ok1 := c.RemoteAddr().(*net.TCPAddr)
	local, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return "not a TCP connection"
	}
	uid, inode, err := socketOwner(remote, local)
	if err != nil {
		return err.Error()
	}
	if v.uid >= 0 {
		if uid != v.uid {
			return fmt.Sprintf("peer uid %d, the environment's is %d", uid, v.uid)
		}
		return ""
	}
	if v.cmd == nil || v.cmd.Process == nil {
		return "environment not started"
	}
	var held bool
	if pids := v.cg.procs(); len(pids) > 0 {
		held = inodeHeldBy(inode, pids) // the environment's cgroup: detached processes too
	} else {
		held = inodeInGroup(inode, v.cmd.Process.Pid)
	}
	if !held {
		return fmt.Sprintf("peer socket (uid %d) is not held by a process of the environment", uid)
	}
	return ""
}

// inodeHeldBy reports whether one of pids holds socket inode open.
func inodeHeldBy(inode uint64, pids []int) bool {
	target := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	for _, pid := range pids {
		if holds(strconv.Itoa(pid), target) {
			return true
		}
	}
	return false
}

func holds(pid, target string) bool {
	fds, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/" + pid + "/fd/" + fd.Name()); err == nil && l == target {
			return true
		}
	}
	return false
}

// socketOwner finds the TCP socket whose local end is local and remote end is remote (the
// peer's view of a connection we accepted) and returns its uid and inode.
func socketOwner(local, remote *net.TCPAddr) (uid int, inode uint64, err error) {
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		uid, inode, ok, err := findSocket(file, local, remote)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, 0, err
		}
		if ok {
			return uid, inode, nil
		}
	}
	return 0, 0, errors.New("peer socket not found in /proc/net/tcp")
}

func findSocket(file string, local, remote *net.TCPAddr) (uid int, inode uint64, ok bool, err error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		if !sameAddr(fs[1], local) || !sameAddr(fs[2], remote) {
			continue
		}
		u, err1 := strconv.Atoi(fs[7])
		n, err2 := strconv.ParseUint(fs[9], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		return u, n, true, nil
	}
	return 0, 0, false, sc.Err()
}

// sameAddr compares a /proc/net/tcp address ("0100007F:1F90": the IP as the kernel stores it,
// 32-bit words in host order, then the port in hex) with a; IPv4-mapped IPv6 addresses match
// their IPv4 form.
func sameAddr(s string, a *net.TCPAddr) bool {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil || int(port) != a.Port {
		return false
	}
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw)%4 != 0 {
		return false
	}
	// Each 32-bit word is in host byte order (little-endian on every platform we run on).
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return ip.Equal(a.IP)
}

// inodeInGroup reports whether a process of the process group pgid holds socket inode open.
func inodeInGroup(inode uint64, pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	target := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	for _, de := range ents {
		pid, err := strconv.Atoi(de.Name())
		if err != nil || processGroup(pid) != pgid {
			continue
		}
		if holds(de.Name(), target) {
			return true
		}
	}
	return false
}

// processGroup is pid's process group id, -1 when unknown.
func processGroup(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	fs := strings.Fields(s[i+1:])
	if len(fs) < 3 {
		return -1
	}
	g, err := strconv.Atoi(fs[2])
	if err != nil {
		return -1
	}
	return g
}
