package workflow

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/jsonevent/jsonevent/core/config"
)

// mailServer is a real SMTP server (emersion/go-smtp) on loopback that keeps
// every message it accepts.
type mailServer struct {
	srv      *smtp.Server
	addr     *net.TCPAddr
	user     string
	pass     string
	rejectTo string // a recipient answered with 550
	// rejectMsg is the text of that 550 ("no such user" when empty).
	rejectMsg string

	mu   sync.Mutex
	msgs []receivedMail
}

type receivedMail struct {
	From string
	To   []string
	Data []byte
	Auth string // the username that logged in
}

func (m *mailServer) messages() []receivedMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]receivedMail(nil), m.msgs...)
}

func (m *mailServer) NewSession(_ *smtp.Conn) (smtp.Session, error) {
	return &mailSession{srv: m}, nil
}

type mailSession struct {
	srv  *mailServer
	auth string
	from string
	to   []string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.user || pass != s.srv.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		s.auth = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.auth == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.srv.rejectTo {
		msg := "no such user"
		if s.srv.rejectMsg != "" {
			msg = s.srv.rejectMsg
		}
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: msg}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, receivedMail{From: s.from, To: s.to, Data: b, Auth: s.auth})
	s.srv.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// startMailServer starts a server speaking mode (none, starttls or tls).
func startMailServer(t *testing.T, mode string) (*mailServer, config.SMTP) {
	t.Helper()
	m := &mailServer{user: "mailer", pass: "pw"}
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	var l net.Listener
	var err error
	if mode == "none" {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	} else {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		old := TLSConfig
		TLSConfig = &tls.Config{RootCAs: pool}
		t.Cleanup(func() { TLSConfig = old })
		if mode == "tls" {
			l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
		} else {
			l, err = net.Listen("tcp", "127.0.0.1:0")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	m.srv, m.addr = srv, l.Addr().(*net.TCPAddr)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return m, config.SMTP{Host: "127.0.0.1", Port: m.addr.Port, Username: "mailer", Password: "pw", From: "Surveys <surveys@example.com>", TLS: mode}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// parseMail parses a received message and decodes its subject and body.
func parseMail(t *testing.T, data []byte) (*mail.Message, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("received mail does not parse: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return msg, subject, string(body)
}

func TestEmailTaskDelivers(t *testing.T) {
	for _, mode := range []string{"none", "starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			ms, smtpConf := startMailServer(t, mode)
			cfg := testConfig(config.Workflow{ID: "survey", Tasks: []config.Task{{ID: "open", Type: "ticket", Title: "t"}, {
				ID: "mail", Type: "email",
				To:      "{{ .fields.email }}",
				Subject: "How did we do with “{{ .fields.subject }}”? {{ .fields.evil }}",
				Body:    "Hello,\nTell us: https://survey.example.com/s/SV_1?ticket={{ .tasks.open.id }}\n.\nBye",
			}}})
			cfg.SMTP = smtpConf
			set, err := Compile(cfg)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			w := set.Workflow("OC_demo", "survey")
			res, err := runOne(t, set, w, 1, map[string]map[string]any{"open": {"id": "T-7"}})
			if err != nil {
				t.Fatalf("RunTask: %v", err)
			}
			got := ms.messages()
			if len(got) != 1 {
				t.Fatalf("messages = %d, want 1", len(got))
			}
			m := got[0]
			if m.From != "surveys@example.com" || len(m.To) != 1 || m.To[0] != "ann@example.com" || m.Auth != "mailer" {
				t.Errorf("envelope = from %q to %v auth %q", m.From, m.To, m.Auth)
			}
			msg, subject, body := parseMail(t, m.Data)
			wantSubject := "How did we do with “Printer on fire”? \",\"admin\":true,\"x\":\"X-Admin: yes"
			if subject != wantSubject {
				t.Errorf("subject = %q\nwant      %q", subject, wantSubject)
			}
			if msg.Header.Get("X-Admin") != "" {
				t.Error("a field value started a new mail header")
			}
			wantBody := "Hello,\r\nTell us: https://survey.example.com/s/SV_1?ticket=T-7\r\n.\r\nBye\r\n" // DATA ends the message with CRLF
			if body != wantBody {
				t.Errorf("body = %q\nwant   %q", body, wantBody)
			}
			if id := msg.Header.Get("Message-Id"); id != "<01EVENT.survey.mail@jsonevent>" || res.Outputs["message_id"] != "01EVENT.survey.mail@jsonevent" {
				t.Errorf("Message-Id = %q, outputs = %v", id, res.Outputs)
			}
		})
	}
}

func TestEmailTaskErrors(t *testing.T) {
	ms, smtpConf := startMailServer(t, "none")
	ms.rejectTo = "nobody@example.com"
	cfg := testConfig(config.Workflow{ID: "survey", Tasks: []config.Task{
		{ID: "rejected", Type: "email", To: "nobody@example.com", Subject: "s", Body: "b"},
		{ID: "bad", Type: "email", To: "{{ .fields.subject }}", Subject: "s", Body: "b"},
	}})
	cfg.SMTP = smtpConf
	set, err := Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	w := set.Workflow("OC_demo", "survey")
	if _, err := runOne(t, set, w, 0, nil); !IsPermanent(err) || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("550: error = %v, want permanent", err)
	}
	if _, err := runOne(t, set, w, 1, nil); !IsPermanent(err) || !strings.Contains(err.Error(), "is not an e-mail address") {
		t.Errorf("bad address: error = %v, want permanent", err)
	}
	// A server that is down is worth retrying.
	ms.srv.Close()
	time.Sleep(10 * time.Millisecond)
	set.SMTP.Port = ms.addr.Port
	if _, err := runOne(t, set, w, 0, nil); err == nil || IsPermanent(err) {
		t.Errorf("server down: error = %v, want retryable", err)
	}
	// starttls required of a server that does not offer it: a setting to
	// fix, not worth eight attempts over an hour.
	_, plain := startMailServer(t, "none")
	plain.TLS = "starttls"
	set.SMTP = plain
	if _, err := runOne(t, set, w, 0, nil); !IsPermanent(err) || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Errorf("no STARTTLS: error = %v, want permanent", err)
	}
	// Wrong password: the server answers 535, a permanent failure.
	ms2, conf2 := startMailServer(t, "none")
	conf2.Password = "wrong"
	set.SMTP = conf2
	_, err = runOne(t, set, w, 0, nil)
	if !IsPermanent(err) || len(ms2.messages()) != 0 {
		t.Errorf("bad password: error = %v, want permanent and no mail", err)
	}
	if !strings.Contains(err.Error(), "auth") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("auth error = %v (must say auth, never the password)", err)
	}
}

// TestEmailTaskTimeoutHolds: go-smtp sets its own deadline on every command
// (5 minutes, 12 after the data), so a server that accepts the connection
// and then says nothing must still end the task at its timeout, and a
// shutdown's cancellation must end it too, not hold a worker for minutes.
func TestEmailTaskTimeoutHolds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // never greets
			accepted <- struct{}{}
		}
	}()
	cfg := testConfig(config.Workflow{ID: "survey", Tasks: []config.Task{
		{ID: "mail", Type: "email", To: "a@example.com", Subject: "s", Body: "b", Timeout: 50 * time.Millisecond},
	}})
	cfg.SMTP = config.SMTP{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, From: "x@example.com", TLS: "none"}
	set, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := runOne(t, set, set.Workflow("OC_demo", "survey"), 0, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "no answer within 50ms") {
			t.Errorf("silent server: error = %v, want a retryable one saying no answer within 50ms", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the e-mail task still waits a minute after its 50ms timeout")
	}
	<-accepted

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- SendMail(ctx, cfg.SMTP, &Message{To: "a@example.com", ID: "x@jsonevent"}, time.Now()) }()
	<-accepted // connected; the server stays silent
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: error = %v, want one wrapping context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("SendMail still waits a minute after its context was cancelled")
	}
}

// scriptedSMTP is an SMTP server on loopback that answers as replies says:
// by command (MAIL, RCPT, DATA, EHLO…) or "." for the end of the data; an
// empty reply drops the connection instead. Others get the usual answer.
func scriptedSMTP(t *testing.T, replies map[string]string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	serve := func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		io.WriteString(c, "220 localhost\r\n")
		for inData := false; ; {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := "."
			if inData && line != ".\r\n" {
				continue
			}
			if !inData {
				cmd, _, _ = strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
			}
			inData = false
			rep, ok := replies[cmd]
			if !ok {
				rep = map[string]string{"EHLO": "250-localhost\r\n250 8BITMIME", "DATA": "354 go ahead", "QUIT": "221 bye"}[cmd]
				if rep == "" {
					rep = "250 ok"
				}
			}
			if rep == "" {
				return
			}
			io.WriteString(c, rep+"\r\n")
			inData = cmd == "DATA" && strings.HasPrefix(rep, "354")
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// TestEmailTaskErrorSaysWhereItFailed: an SMTP error names the step that
// failed, and a connection lost after the whole message was sent, before
// the server confirmed it, says the mail may have been delivered (a retry
// may deliver it twice), unlike one lost before anything was sent.
func TestEmailTaskErrorSaysWhereItFailed(t *testing.T) {
	tests := []struct {
		replies   map[string]string
		permanent bool
		want      []string
		not       string
	}{
		{map[string]string{"MAIL": "451 4.3.0 try later"}, false, []string{"MAIL FROM surveys@example.com: ", "451"}, "delivered"},
		{map[string]string{"RCPT": "452 4.2.2 mailbox full"}, false, []string{"RCPT TO a@example.com: ", "mailbox full"}, "delivered"},
		{map[string]string{"RCPT": "550 5.1.1 no such user"}, true, []string{"RCPT TO a@example.com: ", "no such user"}, "delivered"},
		{map[string]string{"DATA": "451 busy"}, false, []string{"DATA: ", "busy"}, "delivered"},
		{map[string]string{".": "554 5.6.0 rejected content"}, true, []string{"refused after its data", "rejected content"}, "delivered"},
		{map[string]string{".": "451 4.3.0 queue full"}, false, []string{"refused after its data", "queue full"}, "delivered"},
		{map[string]string{"MAIL": ""}, false, []string{"MAIL FROM"}, "delivered"},
		{map[string]string{".": ""}, false, []string{"sent but the server did not confirm it", "may have been delivered",
			"a retry may deliver it again with the same Message-ID <01EVENT.survey.mail@jsonevent>"}, ""},
	}
	for _, tt := range tests {
		cfg := testConfig(config.Workflow{ID: "survey", Tasks: []config.Task{{ID: "mail", Type: "email", To: "a@example.com", Subject: "s", Body: "b"}}})
		cfg.SMTP = config.SMTP{Host: "127.0.0.1", Port: scriptedSMTP(t, tt.replies), From: "Surveys <surveys@example.com>", TLS: "none"}
		set, err := Compile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = runOne(t, set, set.Workflow("OC_demo", "survey"), 0, nil)
		if err == nil || IsPermanent(err) != tt.permanent {
			t.Errorf("%v: error = %v, want permanent=%v", tt.replies, err, tt.permanent)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error = %v, want it to say %q", tt.replies, err, w)
			}
		}
		if tt.not != "" && strings.Contains(err.Error(), tt.not) {
			t.Errorf("%v: error = %v, must not say %q", tt.replies, err, tt.not)
		}
	}
}

// TestEmailTaskGreetingErrorNamesIt: go-smtp reads the greeting and sends
// EHLO inside the first command it is asked for, so a server that never
// greets, or refuses EHLO, was reported as a failed MAIL FROM (or auth):
// a step that was never reached. The greeting and EHLO are a step of
// their own in the error.
func TestEmailTaskGreetingErrorNamesIt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // never greets
		}
	}()
	for _, tc := range []struct {
		port      int
		user      string
		permanent bool
	}{
		{l.Addr().(*net.TCPAddr).Port, "", false},
		{l.Addr().(*net.TCPAddr).Port, "mailer", false},
		{scriptedSMTP(t, map[string]string{"EHLO": "421 4.3.2 shutting down"}), "", false},
		{scriptedSMTP(t, map[string]string{"EHLO": "554 5.7.1 go away"}), "", true},
	} {
		cfg := testConfig(config.Workflow{ID: "survey", Tasks: []config.Task{
			{ID: "mail", Type: "email", To: "a@example.com", Subject: "s", Body: "b", Timeout: 100 * time.Millisecond},
		}})
		cfg.SMTP = config.SMTP{Host: "127.0.0.1", Port: tc.port, From: "x@example.com", TLS: "none", Username: tc.user, Password: "p", InsecureAuth: true}
		set, err := Compile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = runOne(t, set, set.Workflow("OC_demo", "survey"), 0, nil)
		if err == nil || IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), "greeting and EHLO") ||
			strings.Contains(err.Error(), "MAIL FROM") || strings.Contains(err.Error(), "auth") {
			t.Errorf("port %d, user %q: error = %v, want one naming the greeting and EHLO (permanent=%v)", tc.port, tc.user, err, tc.permanent)
		}
	}
}
