// Command peer is a natsmesh peer written in Go from PROTOCOL.md (wire protocol version 1) and the
// micro section of docs/OPERATIONS.md, with the standard library and nats.go only. It proves the
// spec is precise enough to interoperate: test/interop-go.test.ts drives it against natsmesh.
//
//	peer serve [-plain] <natsurl> <service>
//	    A natsmesh-compatible service: queue-subscribes <prefix>.<service>.* in queue group <service>,
//	    validates every request (§2, §3), answers malformed ones 400 (§5) and serves
//	    /echo (body and method/path/headers reflected), /status/<n> (status n, reason "Go <n>") and
//	    /utf8 (a header value with a character above U+00FF); §8: /slow?ms=N answers after N ms
//	    (heartbeating while it waits when the request has mesh-heartbeat) and /stream?n=N answers N
//	    bytes (i*7 mod 251), streamed in 32 KiB chunks under the caller's credit when it sent
//	    mesh-window, in one message otherwise.
//	    With -plain it implements §1–§7 only (PROTOCOL.md §9, a minimal peer): one message in, one
//	    out, no heartbeat or streamed body whatever the request asks (mesh-heartbeat and mesh-window
//	    are removed and ignored), and it prints "RAN <method> <path>" for each request it runs.
//	    Prints "READY <subject> <instance>" once subscribed; stops on SIGTERM, SIGINT, or when its
//	    stdin is a pipe that closes. It also subscribes, without a queue group, the subjects of §10:
//	    <prefix>.<service>.$I.<instance>.* and <prefix>.<service>.$ALL.*.
//	peer call [-H 'name: value']... [-token t] [-timeout ms] [-instance id] <natsurl> <service> <method> <path> [body]
//	    A client: sends one request with nc.Request and prints the response as one JSON line
//	    {status, reason, headers: [[name, value]...], body: base64}. body is literal text, @file, or -
//	    for stdin. -token overrides the subject's method token (to send a mismatch on purpose).
//	    Exit 3 and NO_RESPONDERS when nobody serves the subject, 4 for a malformed response (502),
//	    5 for a timeout (504). -instance sends it to that instance only (§10: <prefix>.<service>.$I.<id>.<m>).
//	peer all [-H 'name: value']... [-wait ms] [-stall ms] [-max n] <natsurl> <service> <method> <path> [body]
//	    Scatter-gather (§10): one request to <prefix>.<service>.$ALL.<m>, each answer printed as a JSON
//	    line as call prints it, until -wait ms in all (default 5000), -max answers, or -stall ms after
//	    the last answer (default 300). Exit 3 and NO_RESPONDERS when nobody listens.
//	peer micro-ls [-wait ms] <natsurl>
//	    Collects $SRV.INFO and $SRV.STATS answers for -wait ms (default 500) and prints, as JSON, the
//	    natsmesh services among them, with the problems found checking each document's schema.
//
//	peer tap [-n count] [-wait ms] <natsurl> <service>
//	    A listen-only tap (§11, tap.go): prints "READY <subject>", then each access record as a JSON line.
//
// The subject prefix is $NATS_PREFIX, default "mesh" (§1).
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// ---------------------------------------------------------------------------------------------
// §2 message layout, §3 head
// ---------------------------------------------------------------------------------------------

const (
	kindRequest  byte = 0x01
	kindResponse byte = 0x02
	// §8 frames and the streamed response head.
	kindChunk          byte = 0x03
	kindEnd            byte = 0x04
	kindCredit         byte = 0x05
	kindAbort          byte = 0x06
	kindStreamResponse byte = 0x08
	streamChunk             = 32 * 1024
	prefixSize              = 8
	maxHead                 = 1 << 20 // §3: the head MUST NOT exceed 1 MiB
)

var (
	prefixRe  = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	serviceRe = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_-]+)*$`)
)

// hopByHop lists the headers a sender drops (§3).
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-authenticate": true, "proxy-authorization": true,
	"proxy-connection": true, "te": true, "trailer": true, "transfer-encoding": true, "upgrade": true,
	"http2-settings": true,
}

// isTchar reports whether c is an RFC 9110 tchar.
func isTchar(c byte) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// Header is one header line; order and repetition are kept (§3).
type Header [2]string

func frame(kind byte, first string, headers []Header, body []byte) []byte {
	var head strings.Builder
	head.WriteString(first)
	head.WriteByte('\n')
	for _, h := range headers {
		head.WriteString(h[0])
		head.WriteString(": ")
		head.WriteString(h[1])
		head.WriteByte('\n')
	}
	out := make([]byte, prefixSize, prefixSize+head.Len()+len(body))
	out[0], out[1], out[2], out[3] = 'N', 'M', 1, kind
	binary.BigEndian.PutUint32(out[4:8], uint32(head.Len()))
	return append(append(out, head.String()...), body...)
}

// message is a decoded payload: the first line split at its first space, the headers, the body.
type message struct {
	first1, first2 string
	headers        []Header
	body           []byte
}

// decode checks §2 and the §3 rules common to requests and responses.
func decode(data []byte, want byte) (*message, error) {
	if len(data) < prefixSize {
		return nil, fmt.Errorf("payload of %d bytes is shorter than the 8-byte prefix", len(data))
	}
	if data[0] != 'N' || data[1] != 'M' {
		return nil, errors.New("bad magic bytes")
	}
	if data[2] != 1 {
		return nil, fmt.Errorf("unsupported version %d", data[2])
	}
	if data[3] != want {
		if data[3] >= 0x03 && data[3] <= 0x0F {
			return nil, fmt.Errorf("reserved message kind %d", data[3])
		}
		return nil, fmt.Errorf("unexpected message kind %d (want %d)", data[3], want)
	}
	h := uint64(binary.BigEndian.Uint32(data[4:8]))
	if h > maxHead {
		return nil, fmt.Errorf("head of %d bytes exceeds 1 MiB", h)
	}
	if prefixSize+h > uint64(len(data)) {
		return nil, fmt.Errorf("head length %d runs past a %d-byte payload", h, len(data))
	}
	raw := data[prefixSize : prefixSize+h]
	if !utf8.Valid(raw) {
		return nil, errors.New("head is not valid UTF-8")
	}
	head := string(raw)
	if hasCtl(strings.ReplaceAll(head, "\n", "")) {
		return nil, errors.New("control character in head")
	}
	if !strings.HasSuffix(head, "\n") {
		return nil, errors.New("head must be lines each ending in \\n")
	}
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	sp := strings.IndexByte(lines[0], ' ')
	if sp < 0 {
		return nil, errors.New("first line must be two parts separated by a space")
	}
	m := &message{first1: lines[0][:sp], first2: lines[0][sp+1:], body: data[prefixSize+h:]}
	for _, line := range lines[1:] {
		i := strings.Index(line, ": ")
		if i < 0 || !isToken(line[:i]) {
			return nil, fmt.Errorf("header line %q is not 'name: value' with a token name", line)
		}
		m.headers = append(m.headers, Header{line[:i], line[i+2:]})
	}
	return m, nil
}

// hasCtl reports a byte the head must not contain (§3): a C0 control other than HTAB, or DEL.
func hasCtl(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7F {
			return true
		}
	}
	return false
}

// isMethod: an HTTP token whose lower-cased form is one subject token that is not a wildcard (§3).
func isMethod(s string) bool {
	return isToken(s) && s != "*" && !strings.Contains(s, ".")
}

// isPath: origin form (or "*") without spaces (§3).
func isPath(s string) bool {
	return (strings.HasPrefix(s, "/") || s == "*") && !strings.Contains(s, " ")
}

// request is a decoded request (§3: METHOD SP PATH).
type request struct {
	method, path string
	headers      []Header
	body         []byte
	// §8.2, taken out of the headers: credit for a streamed response (0: one message only) and the
	// heartbeat interval in ms (0: none).
	window, heartbeat int
}

// boundedInt parses a §8.2 header value: decimal digits, no sign or leading zero, within [lo, hi].
func boundedInt(name, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || strconv.Itoa(n) != v || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be a number %d-%d, got %q", name, lo, hi, v)
	}
	return n, nil
}

// decodeRequest validates a request payload received on a subject whose last token is token.
func decodeRequest(data []byte, token string) (*request, error) {
	m, err := decode(data, kindRequest)
	if err != nil {
		return nil, err
	}
	if !isMethod(m.first1) {
		return nil, fmt.Errorf("invalid method %q", m.first1)
	}
	if !isPath(m.first2) {
		return nil, fmt.Errorf("invalid path %q", m.first2)
	}
	if strings.ToLower(m.first1) != token {
		return nil, fmt.Errorf("method %s does not match subject token %q", m.first1, token)
	}
	// §3: in a request, every content-length line MUST be the body length in decimal digits.
	for _, h := range m.headers {
		if strings.EqualFold(h[0], "content-length") && h[1] != strconv.Itoa(len(m.body)) {
			return nil, fmt.Errorf("content-length %q does not match a body of %d bytes", h[1], len(m.body))
		}
	}
	req := &request{method: m.first1, path: m.first2, body: m.body}
	for _, h := range m.headers {
		var err error
		switch strings.ToLower(h[0]) {
		case "mesh-window":
			req.window, err = boundedInt("mesh-window", h[1], 1, 1024)
		case "mesh-heartbeat":
			req.heartbeat, err = boundedInt("mesh-heartbeat", h[1], 50, 600000)
		default:
			req.headers = append(req.headers, h)
		}
		if err != nil {
			return nil, err
		}
	}
	return req, nil
}

// streamFrame lays out a §8.1 frame: prefix with a 32-bit number, then the body.
func streamFrame(kind byte, n uint32, body []byte) []byte {
	out := make([]byte, prefixSize+len(body))
	out[0], out[1], out[2], out[3] = 'N', 'M', 1, kind
	binary.BigEndian.PutUint32(out[4:8], n)
	copy(out[prefixSize:], body)
	return out
}

// exchange is the instance's side of one multi-message exchange (§8.3): its subject X, where the
// caller's frames arrive, and the credit they grant.
type exchange struct {
	nc     *nats.Conn
	reply  string
	x      string
	sub    *nats.Subscription
	credit chan uint32
	done   chan struct{}
}

func (s *service) openExchange(reply string) *exchange {
	ex := &exchange{nc: s.nc, reply: reply, x: nats.NewInbox(), credit: make(chan uint32, 64), done: make(chan struct{})}
	ex.sub, _ = s.nc.Subscribe(ex.x, func(m *nats.Msg) {
		if len(m.Data) < prefixSize || m.Data[0] != 'N' || m.Data[1] != 'M' {
			return
		}
		switch m.Data[3] {
		case kindCredit:
			if n := binary.BigEndian.Uint32(m.Data[4:8]); n > 0 {
				ex.credit <- n
			}
		case kindAbort:
			ex.close()
		}
	})
	return ex
}

// heartbeat sends credit 0 (reply subject X) every half interval until the exchange ends (§8.4).
func (ex *exchange) heartbeat(ms int) {
	t := time.NewTicker(time.Duration(ms/2) * time.Millisecond)
	go func() {
		defer t.Stop()
		for {
			select {
			case <-ex.done:
				return
			case <-t.C:
				ex.nc.PublishMsg(&nats.Msg{Subject: ex.reply, Reply: ex.x, Data: streamFrame(kindCredit, 0, nil)})
			}
		}
	}()
}

func (ex *exchange) close() {
	select {
	case <-ex.done:
	default:
		close(ex.done)
		ex.sub.Unsubscribe()
	}
}

// Response is a decoded response, printed by `call`.
type Response struct {
	Status  int      `json:"status"`
	Reason  string   `json:"reason"`
	Headers []Header `json:"headers"`
	Body    []byte   `json:"body"` // base64 in JSON
}

func decodeResponse(data []byte) (*Response, error) {
	m, err := decode(data, kindResponse)
	if err != nil {
		return nil, err
	}
	status, err := strconv.Atoi(m.first1)
	if len(m.first1) != 3 || err != nil || status < 100 || status > 599 {
		return nil, fmt.Errorf("status %q is not three digits 100-599", m.first1)
	}
	if m.headers == nil {
		m.headers = []Header{}
	}
	return &Response{status, m.first2, m.headers, m.body}, nil
}

func get(headers []Header, name string) (string, bool) {
	for _, h := range headers {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

func die(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "peer: "+format+"\n", args...)
	os.Exit(code)
}

func meshPrefix() string {
	p := os.Getenv("NATS_PREFIX")
	if p == "" {
		p = "mesh"
	}
	if !prefixRe.MatchString(p) {
		die(2, "invalid prefix %q", p)
	}
	return p
}

func checkService(s string) {
	if !serviceRe.MatchString(s) {
		die(2, "invalid service name %q", s)
	}
}

// randomID returns n characters of [A-Za-z0-9] (instance and request ids).
func randomID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		die(1, "random: %v", err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func connect(url string) *nats.Conn {
	nc, err := nats.Connect(url, nats.Name("natsmesh-go-peer"))
	if err != nil {
		die(1, "connect %s: %v", url, err)
	}
	return nc
}

// ---------------------------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------------------------

type service struct {
	nc       *nats.Conn
	name     string
	instance string
	// plain: §1–§7 only, no §8 exchange at all.
	plain bool
}

var statusRe = regexp.MustCompile(`^/status/([0-9]{3})$`)

// handle answers one valid request.
func (s *service) handle(req *request) (int, string, []Header, []byte) {
	path := req.path
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "/echo" {
		pairs := make([]Header, 0, len(req.headers))
		pairs = append(pairs, req.headers...)
		described, _ := json.Marshal(pairs)
		headers := []Header{
			{"x-echo-method", req.method},
			{"x-echo-path", req.path},
			{"x-echo-headers", base64.StdEncoding.EncodeToString(described)},
			{"x-go", "1"},
			{"set-cookie", "go1=a; Path=/"},
			{"set-cookie", "go2=b; Path=/; HttpOnly"},
		}
		if ct, ok := get(req.headers, "content-type"); ok {
			headers = append(headers, Header{"content-type", ct})
		}
		body := req.body
		if req.method == "HEAD" {
			body = nil
		}
		return 200, "OK", headers, body
	}
	if path == "/slow" { // §8.4: the caller hears heartbeats meanwhile, when it asked for them
		ms, _ := strconv.Atoi(strings.TrimPrefix(req.path, "/slow?ms="))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return 200, "OK", []Header{{"content-type", "text/plain"}}, []byte("slow")
	}
	if path == "/stream" { // without mesh-window: the whole body in one message
		n, _ := strconv.Atoi(strings.TrimPrefix(req.path, "/stream?n="))
		return 200, "OK", []Header{{"content-type", "application/octet-stream"}}, streamBytes(n)
	}
	if path == "/utf8" { // a header value beyond Latin-1: valid UTF-8 on the wire (§3)
		return 200, "OK", []Header{{"x-utf8", "z\u20acrich"}}, []byte("utf8")
	}
	if m := statusRe.FindStringSubmatch(path); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n >= 100 && n <= 599 {
			var body []byte
			if n != 204 && n != 304 && n >= 200 && req.method != "HEAD" {
				body = []byte("go status " + m[1])
			}
			return n, "Go " + m[1], []Header{{"content-type", "text/plain"}}, body
		}
	}
	return 404, "Not Found", []Header{{"content-type", "text/plain"}}, []byte("not found")
}

// respond publishes one response, with the §6 provenance headers, dropping hop-by-hop headers.
func (s *service) respond(m *nats.Msg, reqHeaders []Header, status int, reason string, headers []Header, body []byte) {
	out := make([]Header, 0, len(headers)+5)
	for _, h := range headers {
		if !hopByHop[strings.ToLower(h[0])] {
			out = append(out, h)
		}
	}
	rid, ok := get(reqHeaders, "x-request-id")
	if !ok {
		rid = randomID(22)
	}
	out = append(out, Header{"x-request-id", rid}, Header{"mesh-service", s.name},
		Header{"mesh-instance", s.instance}, Header{"mesh-server", s.nc.ConnectedServerName()})
	if cluster := s.nc.ConnectedClusterName(); cluster != "" {
		out = append(out, Header{"mesh-cluster", cluster})
	}
	if err := m.Respond(frame(kindResponse, fmt.Sprintf("%d %s", status, reason), out, body)); err != nil {
		fmt.Fprintf(os.Stderr, "peer: respond: %v\n", err)
	}
}

func (s *service) onMessage(m *nats.Msg) {
	if m.Reply == "" { // §4.3: nowhere to answer
		fmt.Fprintf(os.Stderr, "peer: dropped a message without a reply subject on %s\n", m.Subject)
		return
	}
	token := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	req, err := decodeRequest(m.Data, token)
	if err != nil { // §5: malformed request → 400 NM_ERR_MALFORMED with the JSON error body
		msg := "malformed message: " + err.Error()
		body, _ := json.Marshal(map[string]interface{}{"error": msg, "code": "NM_ERR_MALFORMED", "status": 400})
		headers := []Header{{"content-type", "application/json"}, {"mesh-error", "NM_ERR_MALFORMED"}}
		s.respond(m, nil, 400, "Bad Request", headers, body)
		return
	}
	if s.plain { // §9: a minimal peer answers every request with one message
		fmt.Printf("RAN %s %s\n", req.method, req.path)
		status, reason, headers, body := s.handle(req)
		s.respond(m, req.headers, status, reason, headers, body)
		return
	}
	var ex *exchange
	if req.heartbeat > 0 || req.window > 0 {
		ex = s.openExchange(m.Reply)
		defer ex.close()
	}
	if req.heartbeat > 0 {
		ex.heartbeat(req.heartbeat)
	}
	if strings.HasPrefix(req.path, "/stream?n=") && req.window > 0 {
		n, _ := strconv.Atoi(strings.TrimPrefix(req.path, "/stream?n="))
		s.stream(m, ex, req, n)
		return
	}
	status, reason, headers, body := s.handle(req)
	if ex != nil {
		ex.close() // the final message ends the exchange: no heartbeat after it
	}
	s.respond(m, req.headers, status, reason, headers, body)
}

func streamBytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte((i * 7) % 251)
	}
	return out
}

// stream answers n bytes as a §8 streamed response: the head (kind 8, reply subject X) with the
// first chunk's bytes, then chunks 1, 2, ... one per credit (the request's mesh-window to start),
// then end.
func (s *service) stream(m *nats.Msg, ex *exchange, req *request, n int) {
	body := streamBytes(n)
	first := body
	if len(first) > streamChunk {
		first = first[:streamChunk]
	}
	rest := body[len(first):]
	headers := []Header{{"content-type", "application/octet-stream"}, {"content-length", strconv.Itoa(n)},
		{"mesh-service", s.name}, {"mesh-instance", s.instance}}
	head := frame(kindStreamResponse, "200 OK", headers, first)
	if err := s.nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: ex.x, Data: head}); err != nil {
		return
	}
	credit := uint32(req.window)
	var seq uint32
	for len(rest) > 0 {
		for credit == 0 {
			select {
			case c := <-ex.credit:
				credit += c
			case <-ex.done:
				return // the caller aborted
			case <-time.After(30 * time.Second):
				return // the caller is gone
			}
		}
		take := rest
		if len(take) > streamChunk {
			take = take[:streamChunk]
		}
		rest = rest[len(take):]
		seq++
		credit--
		s.nc.Publish(m.Reply, streamFrame(kindChunk, seq, take))
	}
	ex.close()
	s.nc.Publish(m.Reply, streamFrame(kindEnd, seq+1, nil))
}

func cmdServe(argv []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	plain := fs.Bool("plain", false, "implement §1–§7 only: no heartbeats, no streamed bodies")
	_ = fs.Parse(argv)
	args := fs.Args()
	if len(args) != 2 {
		die(2, "usage: peer serve [-plain] <natsurl> <service>")
	}
	checkService(args[1])
	prefix := meshPrefix()
	nc, err := nats.Connect(args[0], nats.Name("natsmesh-go-peer"),
		nats.ClosedHandler(func(*nats.Conn) { os.Exit(0) }))
	if err != nil {
		die(1, "connect %s: %v", args[0], err)
	}
	s := &service{nc: nc, name: args[1], instance: "go-" + randomID(19), plain: *plain}
	subject := prefix + "." + s.name + ".*"
	if _, err := nc.QueueSubscribe(subject, s.name, s.onMessage); err != nil {
		die(1, "subscribe %s: %v", subject, err)
	}
	// §10: requests named to this instance, and requests to every instance — no queue group.
	for _, direct := range []string{prefix + "." + s.name + ".$I." + s.instance + ".*", prefix + "." + s.name + ".$ALL.*"} {
		if _, err := nc.Subscribe(direct, s.onMessage); err != nil {
			die(1, "subscribe %s: %v", direct, err)
		}
	}
	if err := nc.Flush(); err != nil {
		die(1, "flush: %v", err)
	}
	fmt.Printf("READY %s %s\n", subject, s.instance)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	// With stdin a pipe or socket (a test harness), its end means the parent is gone: stop too.
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop <- syscall.SIGTERM
		}()
	}
	<-stop
	_ = nc.Drain()
	for !nc.IsClosed() {
		time.Sleep(10 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------------
// call
// ---------------------------------------------------------------------------------------------

type headerFlags []Header

func (h *headerFlags) String() string { return fmt.Sprint(*h) }
func (h *headerFlags) Set(v string) error {
	i := strings.Index(v, ": ")
	if i < 0 || !isToken(v[:i]) || hasCtl(v) {
		return fmt.Errorf("header %q is not 'name: value'", v)
	}
	*h = append(*h, Header{v[:i], v[i+2:]})
	return nil
}

func cmdCall(args []string) {
	fs := flag.NewFlagSet("call", flag.ExitOnError)
	var headers headerFlags
	fs.Var(&headers, "H", "request header 'name: value' (repeatable)")
	token := fs.String("token", "", "subject method token (default: the method lower-cased)")
	timeout := fs.Int("timeout", 5000, "deadline in ms")
	instance := fs.String("instance", "", "the instance that must answer (§10), by its mesh-instance id")
	_ = fs.Parse(args)
	url, svc, method, path, body, sent := requestArgs(fs.Args(), headers,
		"usage: peer call [-H 'k: v']... [-token t] [-timeout ms] [-instance id] <natsurl> <service> <method> <path> [body]")
	if *token == "" {
		*token = strings.ToLower(method)
	}
	nc := connect(url)
	defer nc.Close()
	subject := meshPrefix() + "." + svc + "." + *token
	if *instance != "" {
		if !microNameRe.MatchString(*instance) { // §10: one token of [A-Za-z0-9_-]
			die(2, "invalid instance id %q", *instance)
		}
		subject = meshPrefix() + "." + svc + ".$I." + *instance + "." + *token
	}
	msg, err := nc.Request(subject, frame(kindRequest, method+" "+path, sent, body),
		time.Duration(*timeout)*time.Millisecond)
	switch {
	case errors.Is(err, nats.ErrNoResponders): // §5: 503 NM_ERR_NO_RESPONDERS
		fmt.Println("NO_RESPONDERS")
		nc.Close()
		os.Exit(3)
	case errors.Is(err, nats.ErrTimeout):
		fmt.Println("TIMEOUT")
		nc.Close()
		os.Exit(5)
	case err != nil:
		die(1, "request %s: %v", subject, err)
	}
	res, err := decodeResponse(msg.Data)
	if err != nil { // §5: 502 NM_ERR_BAD_RESPONSE
		fmt.Printf("BAD_RESPONSE %s\n", err)
		nc.Close()
		os.Exit(4)
	}
	if method == "HEAD" || res.Status == 204 || res.Status == 304 { // §3: these have no body
		res.Body = []byte{}
	}
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
}

// requestArgs reads <natsurl> <service> <method> <path> [body] and drops hop-by-hop headers.
func requestArgs(rest []string, headers headerFlags, usage string) (string, string, string, string, []byte, []Header) {
	if len(rest) < 4 || len(rest) > 5 {
		die(2, "%s", usage)
	}
	url, svc, method, path := rest[0], rest[1], rest[2], rest[3]
	checkService(svc)
	if !isMethod(method) || !isPath(path) {
		die(2, "invalid method %q or path %q", method, path)
	}
	var body []byte
	if len(rest) == 5 {
		var err error
		switch arg := rest[4]; {
		case arg == "-":
			body, err = io.ReadAll(os.Stdin)
		case strings.HasPrefix(arg, "@"):
			body, err = os.ReadFile(arg[1:])
		default:
			body = []byte(arg)
		}
		if err != nil {
			die(2, "body: %v", err)
		}
	}
	var sent []Header
	for _, h := range headers {
		if !hopByHop[strings.ToLower(h[0])] {
			sent = append(sent, h)
		}
	}
	return url, svc, method, path, body, sent
}

// ---------------------------------------------------------------------------------------------
// all (§10: every instance)
// ---------------------------------------------------------------------------------------------

// cmdAll sends one request to every instance (<prefix>.<service>.$ALL.<method>, no mesh-window and no
// mesh-heartbeat: one answer message per instance) and prints each answer as a JSON line. It stops
// on the first of: -wait ms in all, -max answers, -stall ms after the last answer, or NATS's
// no-responders status (exit 3, "NO_RESPONDERS").
func cmdAll(args []string) {
	fs := flag.NewFlagSet("all", flag.ExitOnError)
	var headers headerFlags
	fs.Var(&headers, "H", "request header 'name: value' (repeatable)")
	wait := fs.Int("wait", 5000, "total wait in ms")
	stall := fs.Int("stall", 300, "end this many ms after the last answer")
	max := fs.Int("max", 0, "end after this many answers (0: no limit)")
	_ = fs.Parse(args)
	url, svc, method, path, body, sent := requestArgs(fs.Args(), headers,
		"usage: peer all [-H 'k: v']... [-wait ms] [-stall ms] [-max n] <natsurl> <service> <method> <path> [body]")
	nc := connect(url)
	defer nc.Close()
	subject := meshPrefix() + "." + svc + ".$ALL." + strings.ToLower(method)
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		die(1, "subscribe: %v", err)
	}
	if err := nc.PublishRequest(subject, inbox, frame(kindRequest, method+" "+path, sent, body)); err != nil {
		die(1, "publish %s: %v", subject, err)
	}
	deadline := time.Now().Add(time.Duration(*wait) * time.Millisecond)
	answers := 0
	for *max == 0 || answers < *max {
		left := time.Until(deadline)
		if answers > 0 && time.Duration(*stall)*time.Millisecond < left {
			left = time.Duration(*stall) * time.Millisecond
		}
		if left <= 0 {
			break
		}
		m, err := sub.NextMsg(left)
		// §5: nobody subscribes. nats.go's NextMsg turns the no-responders status into ErrNoResponders.
		if errors.Is(err, nats.ErrNoResponders) || (err == nil && len(m.Data) == 0 && m.Header.Get("Status") == "503") {
			fmt.Println("NO_RESPONDERS")
			nc.Close()
			os.Exit(3)
		}
		if err != nil {
			break
		}
		res, err := decodeResponse(m.Data)
		if err != nil {
			fmt.Printf("BAD_RESPONSE %s\n", err)
			nc.Close()
			os.Exit(4)
		}
		line, _ := json.Marshal(res)
		fmt.Println(string(line))
		answers++
	}
}

// ---------------------------------------------------------------------------------------------
// micro-ls
// ---------------------------------------------------------------------------------------------

// The micro package of nats.go 1.22.1 is the experimental preview of the micro protocol: its Info has
// one `subject` and its Stats flat counters, where the v1 documents (ADR-32, `io.nats.micro.v1.*`)
// that natsmesh answers have an `endpoints` array. micro.Info / micro.Stats still decode the identity
// (name, id, version, description, started); the v1 structs below decode the rest.

type v1Endpoint struct {
	Name                  string             `json:"name"`
	Subject               string             `json:"subject"`
	QueueGroup            string             `json:"queue_group"`
	Metadata              *map[string]string `json:"metadata,omitempty"`
	NumRequests           *int64             `json:"num_requests,omitempty"`
	NumErrors             *int64             `json:"num_errors,omitempty"`
	LastError             *string            `json:"last_error,omitempty"`
	ProcessingTime        *int64             `json:"processing_time,omitempty"`
	AverageProcessingTime *int64             `json:"average_processing_time,omitempty"`
}

type v1Doc struct {
	Type        string            `json:"type"`
	Name        string            `json:"name"`
	ID          string            `json:"id"`
	Version     string            `json:"version"`
	Metadata    map[string]string `json:"metadata"`
	Description string            `json:"description,omitempty"`
	Started     string            `json:"started,omitempty"`
	Endpoints   []v1Endpoint      `json:"endpoints"`
}

// Listed is one natsmesh instance as micro-ls prints it.
type Listed struct {
	Service     string            `json:"service"` // natsmesh name (metadata natsmesh.service)
	Name        string            `json:"name"`    // micro name
	ID          string            `json:"id"`
	Version     string            `json:"version"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
	Endpoints   []v1Endpoint      `json:"endpoints"`
	Stats       *v1Doc            `json:"stats"`
	Micro122    struct {
		Info  *micro.Info  `json:"info"`
		Stats *micro.Stats `json:"stats"`
	} `json:"micro_1_22"`
	Problems []string `json:"problems"`
}

var (
	microNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	semverRe    = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// collect sends one request and gathers every answer that arrives within wait.
func collect(nc *nats.Conn, subject string, wait time.Duration) [][]byte {
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		die(1, "subscribe: %v", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		die(1, "publish %s: %v", subject, err)
	}
	var out [][]byte
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return out
		}
		m, err := sub.NextMsg(left)
		if err != nil {
			return out
		}
		if len(m.Data) > 0 {
			out = append(out, m.Data)
		}
	}
}

// require checks that doc has every key, each of the JSON kind given ('s'tring, 'n'umber, 'o'bject,
// 'a'rray), and reports what is missing or mistyped.
func require(where string, doc map[string]json.RawMessage, keys map[string]byte) []string {
	var problems []string
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		raw, ok := doc[k]
		if !ok {
			problems = append(problems, where+": missing "+k)
			continue
		}
		raw = bytes.TrimSpace(raw)
		var good bool
		switch keys[k] {
		case 's':
			good = len(raw) > 0 && raw[0] == '"'
		case 'n':
			var n json.Number
			good = json.Unmarshal(raw, &n) == nil && !strings.ContainsAny(string(n), ".eE-")
		case 'o':
			good = len(raw) > 0 && raw[0] == '{'
		case 'a':
			good = len(raw) > 0 && raw[0] == '['
		}
		if !good {
			problems = append(problems, fmt.Sprintf("%s: %s is not of kind %c: %s", where, k, keys[k], raw))
		}
	}
	return problems
}

func identityKeys(extra map[string]byte) map[string]byte {
	keys := map[string]byte{"type": 's', "name": 's', "id": 's', "version": 's', "metadata": 'o', "endpoints": 'a'}
	for k, v := range extra {
		keys[k] = v
	}
	return keys
}

// checkDoc checks one v1 document (ADR-32; docs/OPERATIONS.md "Documents").
func checkDoc(verb string, data []byte, doc *v1Doc) []string {
	where := "$SRV." + verb
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return []string{where + ": " + err.Error()}
	}
	var problems []string
	var endpointKeys map[string]byte
	if verb == "INFO" {
		problems = require(where, top, identityKeys(map[string]byte{"description": 's'}))
		endpointKeys = map[string]byte{"name": 's', "subject": 's', "queue_group": 's', "metadata": 'o'}
	} else {
		problems = require(where, top, identityKeys(map[string]byte{"started": 's'}))
		endpointKeys = map[string]byte{"name": 's', "subject": 's', "queue_group": 's', "num_requests": 'n',
			"num_errors": 'n', "last_error": 's', "processing_time": 'n', "average_processing_time": 'n'}
		if _, err := time.Parse(time.RFC3339Nano, doc.Started); err != nil {
			problems = append(problems, where+": started is not RFC 3339: "+doc.Started)
		}
	}
	if want := "io.nats.micro.v1." + strings.ToLower(verb) + "_response"; doc.Type != want {
		problems = append(problems, fmt.Sprintf("%s: type %q, want %q", where, doc.Type, want))
	}
	if !microNameRe.MatchString(doc.Name) {
		problems = append(problems, where+": name is not a micro name: "+doc.Name)
	}
	if !semverRe.MatchString(doc.Version) {
		problems = append(problems, where+": version is not semver: "+doc.Version)
	}
	for _, k := range []string{"natsmesh.service", "natsmesh.prefix", "natsmesh.protocol"} {
		if _, ok := doc.Metadata[k]; !ok {
			problems = append(problems, where+": metadata lacks "+k)
		}
	}
	var eps []map[string]json.RawMessage
	_ = json.Unmarshal(top["endpoints"], &eps)
	if len(eps) == 0 {
		problems = append(problems, where+": no endpoints")
	}
	for i, ep := range eps {
		problems = append(problems, require(fmt.Sprintf("%s endpoints[%d]", where, i), ep, endpointKeys)...)
	}
	return problems
}

func cmdMicroLs(args []string) {
	fs := flag.NewFlagSet("micro-ls", flag.ExitOnError)
	wait := fs.Int("wait", 500, "collection window in ms")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		die(2, "usage: peer micro-ls [-wait ms] <natsurl>")
	}
	nc := connect(fs.Arg(0))
	defer nc.Close()
	byID := map[string]*Listed{}
	var order []string
	for _, verb := range []micro.Verb{micro.InfoVerb, micro.StatsVerb} {
		subject, err := micro.ControlSubject(verb, "", "")
		if err != nil {
			die(1, "control subject: %v", err)
		}
		for _, data := range collect(nc, subject, time.Duration(*wait)*time.Millisecond) {
			var doc v1Doc
			if err := json.Unmarshal(data, &doc); err != nil {
				continue
			}
			service, ok := doc.Metadata["natsmesh.service"]
			if !ok { // not a natsmesh service
				continue
			}
			key := doc.Name + "/" + doc.ID
			l := byID[key]
			if l == nil {
				l = &Listed{Service: service, Name: doc.Name, ID: doc.ID, Problems: []string{}}
				byID[key] = l
				order = append(order, key)
			}
			l.Problems = append(l.Problems, checkDoc(verb.String(), data, &doc)...)
			if verb == micro.InfoVerb {
				var info micro.Info
				_ = json.Unmarshal(data, &info)
				l.Micro122.Info = &info
				l.Version, l.Description, l.Metadata, l.Endpoints = doc.Version, doc.Description, doc.Metadata, doc.Endpoints
			} else {
				var stats micro.Stats
				_ = json.Unmarshal(data, &stats)
				l.Micro122.Stats = &stats
				d := doc
				l.Stats = &d
			}
		}
	}
	sort.Strings(order)
	out := make([]*Listed, 0, len(order))
	for _, k := range order {
		l := byID[k]
		if l.Micro122.Info == nil {
			l.Problems = append(l.Problems, "no $SRV.INFO answer")
		}
		if l.Stats == nil {
			l.Problems = append(l.Problems, "no $SRV.STATS answer")
		}
		out = append(out, l)
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

func main() {
	if len(os.Args) < 2 {
		die(2, "usage: peer serve|call|all|micro-ls|tap ...")
	}
	switch os.Args[1] {
	case "serve":
		cmdServe(os.Args[2:])
	case "call":
		cmdCall(os.Args[2:])
	case "all":
		cmdAll(os.Args[2:])
	case "micro-ls":
		cmdMicroLs(os.Args[2:])
	case "tap":
		cmdTap(os.Args[2:])
	default:
		die(2, "unknown command %q", os.Args[1])
	}
}
