package workflow

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/jsonevent/jsonevent/core/config"
)

// Message is one plain-text e-mail.
type Message struct {
	To      string
	Subject string
	Text    string
	// ID is the Message-ID without brackets; the same on every attempt, so a
	// receiving system can drop a duplicate.
	ID string
}

// TLSConfig, when set, is used for SMTP TLS (tests trust their own CA with
// it); nil means the system roots and the configured host name.
var TLSConfig *tls.Config

func (r *Runner) runEmail(ctx context.Context, set *Set, w *Workflow, t *Task, d *Data, root map[string]any) (*Result, error) {
	to, err := render(t, "to", t.to, root)
	if err != nil {
		return nil, err
	}
	subject, err := render(t, "subject", t.subject, root)
	if err != nil {
		return nil, err
	}
	text, err := render(t, "body", t.text, root)
	if err != nil {
		return nil, err
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(to))
	if err != nil {
		return nil, permanent(t.ID, fmt.Errorf("to: %q is not an e-mail address: %w", to, err))
	}
	msg := &Message{
		To:      addr.Address,
		Subject: subject,
		Text:    text,
		ID:      IdempotencyKey(d.Event.ID, w.ID, t.ID) + "@jsonevent",
	}
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	if err := SendMail(ctx, set.SMTP, msg, r.now()); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", t.Timeout, err)
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 || errors.Is(err, errNoStartTLS) {
			return nil, permanent(t.ID, err)
		}
		return nil, retryable(t.ID, err)
	}
	return &Result{MessageID: msg.ID, Outputs: map[string]any{"message_id": msg.ID}}, nil
}

// errNoStartTLS is a server that does not offer STARTTLS to a config that
// requires it: a setting to change, not a failure a retry gets past.
var errNoStartTLS = errors.New("the server does not offer STARTTLS, which smtp.tls: starttls requires (use tls for implicit TLS on port 465, or check smtp.host and smtp.port)")

// SendMail delivers msg through the SMTP server c describes: plain, STARTTLS
// or implicit TLS, with PLAIN auth when a username is set. A 5xx answer is
// an *smtp.SMTPError with its Code.
func SendMail(ctx context.Context, c config.SMTP, msg *Message, now time.Time) (err error) {
	port := c.Port
	if port == 0 {
		switch c.TLS {
		case "tls":
			port = 465
		case "starttls":
			port = 587
		default:
			port = 25
		}
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(port))
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	// go-smtp sets a deadline of its own on every command (5 minutes, 12
	// for the answer to the data), replacing any set here: the connection
	// is closed when ctx ends instead, so the task's timeout and a
	// shutdown end the attempt.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// why is err, or when it is only the connection closed for ctx, why
	// ctx ended.
	why := func(err error) error {
		if ctx.Err() != nil && errors.Is(err, net.ErrClosed) {
			return context.Cause(ctx)
		}
		return err
	}
	tlsConf := &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	if TLSConfig != nil {
		tlsConf = TLSConfig.Clone()
		if tlsConf.ServerName == "" {
			tlsConf.ServerName = c.Host
		}
	}
	var cl *smtp.Client
	switch c.TLS {
	case "tls":
		cl = smtp.NewClient(tls.Client(conn, tlsConf))
	case "starttls":
		cl, err = smtp.NewClientStartTLS(conn, tlsConf)
		if err != nil {
			conn.Close()
			// go-smtp has no error value for it, only this text (and no
			// exported StartTLS to check the extension first);
			// TestEmailTaskErrors fails if the text changes.
			if strings.Contains(err.Error(), "doesn't support STARTTLS") {
				return fmt.Errorf("smtp %s: %w", addr, errNoStartTLS)
			}
			return fmt.Errorf("smtp %s: starttls: %w", addr, why(err))
		}
	default:
		cl = smtp.NewClient(conn)
	}
	defer cl.Close()
	// go-smtp would read the greeting and send EHLO (after STARTTLS: the
	// TLS handshake, then EHLO again) inside the first command below, whose
	// name the error would then carry: a step of its own instead.
	if err := cl.Hello("localhost"); err != nil {
		return fmt.Errorf("smtp %s: greeting and EHLO: %w", addr, why(err))
	}
	if c.Username != "" {
		if err := cl.Auth(sasl.NewPlainClient("", c.Username, c.Password)); err != nil {
			return fmt.Errorf("smtp %s: auth: %w", addr, why(err))
		}
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("smtp from %q: %w", c.From, err)
	}
	data, err := buildMessage(from, msg, now)
	if err != nil {
		return err
	}
	// Each step is named in its error. Up to the data nothing was sent; an
	// answer lost after it is not a refusal: the server may have taken the
	// message, and a retry may deliver it twice (RFC 5321 6.1).
	var opts *smtp.MailOptions
	if !isASCII(from.Address) || !isASCII(msg.To) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := cl.Mail(from.Address, opts); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM %s: %w", addr, from.Address, why(err))
	}
	if err := cl.Rcpt(msg.To, nil); err != nil {
		return fmt.Errorf("smtp %s: RCPT TO %s: %w", addr, msg.To, why(err))
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, why(err))
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("smtp %s: sending the message to %s: %w", addr, msg.To, why(err))
	}
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return fmt.Errorf("smtp %s: the message to %s was refused after its data: %w", addr, msg.To, err)
		}
		return fmt.Errorf("smtp %s: the message to %s was sent but the server did not confirm it (%w): "+
			"it may have been delivered, and a retry may deliver it again with the same Message-ID <%s>", addr, msg.To, why(err), msg.ID)
	}
	// The message was accepted at the final dot; a failed QUIT does not undo
	// that, so its error is not the task's.
	_ = cl.Quit()
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// buildMessage writes an RFC 5322 message: headers encoded (no value can
// start a new header), body quoted-printable UTF-8.
func buildMessage(from *mail.Address, msg *Message, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	h := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(stripControls(v))
		b.WriteString("\r\n")
	}
	h("From", from.String())
	h("To", (&mail.Address{Address: msg.To}).String())
	h("Subject", mime.QEncoding.Encode("utf-8", stripControls(msg.Subject)))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+msg.ID+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(strings.ReplaceAll(msg.Text, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, fmt.Errorf("encode mail body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode mail body: %w", err)
	}
	return b.Bytes(), nil
}
